# One image for every part: the command chooses web or worker.
#   docker build -t lr-arena .
#   docker run lr-arena web       (daphne on :8000)
#   docker run lr-arena worker    (a Celery worker; give it a GPU with --gpus all)
FROM python:3.11-slim-bookworm

ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 PIP_NO_CACHE_DIR=1 \
    DJANGO_SETTINGS_MODULE=dashboard.settings ARENA_VAR_DIR=/var/lib/arena DATA_DIR=/data

WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt
COPY . .
RUN mkdir -p /var/lib/arena /data \
 && DJANGO_SECRET_KEY=build-only DJANGO_DEBUG=0 python manage.py collectstatic --noinput

EXPOSE 8000
COPY scripts/docker-entrypoint.sh /usr/local/bin/arena
ENTRYPOINT ["arena"]
CMD ["web"]
