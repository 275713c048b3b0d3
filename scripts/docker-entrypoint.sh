#!/bin/sh
# Container entry point: `web` (migrate, then daphne) or `worker` (a Celery worker).
set -e
case "${1:-web}" in
  web)
    python manage.py migrate --noinput
    python manage.py create_first_admin  # once: from ARENA_ADMIN_PASSWORD, else a printed one-time password
    # demo data (a demo user with a known password): only when asked, never by docker-compose.yml
    if [ "${ARENA_SEED_DEMO:-0}" = "1" ]; then python manage.py seed_demo; fi
    exec daphne -b 0.0.0.0 -p "${PORT:-8000}" dashboard.asgi:application
    ;;
  worker)
    # solo pool: one run at a time per worker, and no fork after CUDA is touched.
    queue=cpu; [[ "${ARENA_DEVICE:-cpu}" == cuda* ]] && queue=gpu
    exec celery -A dashboard worker --pool=solo --queues="${ARENA_QUEUE:-$queue}" --loglevel=INFO
    ;;
  *)
    exec "$@"
    ;;
esac
