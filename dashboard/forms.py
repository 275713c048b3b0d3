"""Forms generated from the trainer's own declarations.

The policy form has one fieldset per kind, built from
`trainer.schedules.catalog()`: a kind declares its parameters once, and the
form, the API validation and the catalog page all follow from that
declaration. Field names are `<KIND>__<param>`; only the chosen kind's fields
are read. Lists of nested specs (PIECEWISE stages, SWITCH policies) travel as
JSON in a hidden field that the page's stage editor fills in.
"""

from __future__ import annotations

from functools import lru_cache

from django import forms
from django.conf import settings
from django.forms.fields import InvalidJSONInput

from dashboard import access, fleet, halving
from dashboard.api.parsers import MAX_DEPTH, depth
from dashboard.models import Run
from trainer import schedules
from trainer.workloads import get_workload, list_workloads

SCALAR_TYPES = {"float", "int", "float_list", "int_list", "choice"}
NESTED_TYPES = {"spec_list"}
UNIT_CHOICES = [("epoch", "epochs (fractional within an epoch)"), ("iteration", "iterations")]


@lru_cache(maxsize=1)
def editable_kinds() -> tuple[dict, ...]:
    """Kinds a person builds in the form: everything but conversions of other policies."""
    return tuple(
        decl for decl in schedules.catalog() if all(p["type"] in SCALAR_TYPES | NESTED_TYPES for p in decl["params"])
    )


def kind_decl(kind: str) -> dict:
    return next(d for d in editable_kinds() if d["kind"] == kind)


def field_name(kind: str, param: str) -> str:
    return f"{kind}__{param}"


def _parse_number_list(raw: str, *, integer: bool) -> list:
    items = [item.strip() for item in raw.replace(";", ",").split(",")]
    if not any(items):
        raise forms.ValidationError("Enter at least one number, separated by commas.")
    if "" in items:
        raise forms.ValidationError(f"Entry {items.index('') + 1} is empty: enter a number.")
    values = []
    for item in items:
        try:
            number = float(item)
        except ValueError:
            raise forms.ValidationError(f"{item!r} is not a number.") from None
        if integer:
            if not number.is_integer():
                raise forms.ValidationError(f"{item!r} is not a whole number.")
            number = int(number)
        values.append(number)
    return values


class NumberListField(forms.CharField):
    def __init__(self, *args, integer: bool = False, **kwargs) -> None:
        self.integer = integer
        super().__init__(*args, **kwargs)

    def prepare_value(self, value):
        if isinstance(value, (list, tuple)):
            return ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)
        return value

    def clean(self, value):
        value = super().clean(value)
        if value in self.empty_values:
            return None
        return _parse_number_list(value, integer=self.integer)


def _param_field(param: dict) -> forms.Field:
    common = {"required": False, "label": param["name"], "help_text": param.get("help", "")}
    kind = param["type"]
    if kind == "float":
        return forms.FloatField(widget=forms.NumberInput(attrs={"step": "any"}), **common)
    if kind == "int":
        return forms.IntegerField(**common)
    if kind == "choice":
        return forms.ChoiceField(choices=[(c, c) for c in param["choices"]], **common)
    if kind in NESTED_TYPES:
        return NestedSpecsField(widget=forms.HiddenInput(attrs={"data-nested": param["name"]}), **common)
    return NumberListField(integer=kind == "int_list", **common)


class NestedSpecsField(forms.JSONField):
    """JSON of nested specs; nesting far deeper than any spec is refused before anything walks it."""

    def to_python(self, value):
        try:
            data = super().to_python(value)
        except RecursionError:
            data = None
            too_deep = True
        else:
            too_deep = depth(data) > MAX_DEPTH
        if too_deep:
            raise forms.ValidationError(f"nested more than {MAX_DEPTH} levels deep", code="too_deep")
        return data

    def bound_data(self, data, initial):
        try:
            return super().bound_data(data, initial)
        except RecursionError:  # shown back to the user as the text they sent
            return InvalidJSONInput(data)


def initial_from_spec(spec: dict) -> dict:
    """Form initial data that reproduces a spec (for duplicating a policy)."""
    kind = spec.get("kind")
    initial = {"kind": kind, "unit": spec.get("unit", "epoch")}
    for key, value in spec.items():
        if key not in ("kind", "unit"):
            initial[field_name(kind, key)] = value
    return initial


class PolicyForm(forms.Form):
    name = forms.CharField(max_length=100)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    kind = forms.ChoiceField()
    unit = forms.ChoiceField(choices=UNIT_CHOICES, initial="epoch", required=False, label="t is measured in")

    def __init__(self, *args, team=None, instance=None, spec_editable: bool = True, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.team = team
        self.instance = instance
        self.spec_editable = spec_editable
        groups: dict[str, list] = {}
        for decl in editable_kinds():
            groups.setdefault(decl["group"], []).append((decl["kind"], f"{decl['kind']} — {decl['label']}"))
            for param in decl["params"]:
                field = _param_field(param)
                if not self.is_bound and field_name(decl["kind"], param["name"]) not in self.initial:
                    field.initial = param.get("default")
                self.fields[field_name(decl["kind"], param["name"])] = field
        self.fields["kind"].choices = [(group.title(), choices) for group, choices in groups.items()]
        if not spec_editable:
            for name, field in self.fields.items():
                if name not in ("name", "description"):
                    field.disabled = True

    def kind_fieldsets(self) -> list[dict]:
        """What the template renders: one fieldset per kind, with its bound fields."""
        return [
            {
                "kind": decl["kind"],
                "label": decl["label"],
                "description": decl.get("description", ""),
                "formula": decl.get("formula", ""),
                "units": decl.get("units", ["epoch", "iteration"]),
                "fields": [self[field_name(decl["kind"], p["name"])] for p in decl["params"]],
            }
            for decl in editable_kinds()
        ]

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if self.team is not None:
            clash = self.team.policies.filter(name=name)
            if self.instance is not None:
                clash = clash.exclude(pk=self.instance.pk)
            if clash.exists():
                raise forms.ValidationError("Your team already has a policy with this name.")
        return name

    def clean(self):
        cleaned = super().clean()
        kind = cleaned.get("kind")
        if not self.spec_editable or not kind:
            return cleaned
        # Only the chosen kind's fields matter; the others are the other fieldsets' leftovers.
        for name in [n for n in self._errors if "__" in n and not n.startswith(f"{kind}__")]:
            del self._errors[name]
        decl = kind_decl(kind)
        if any(field_name(kind, p["name"]) in self._errors for p in decl["params"]):
            return cleaned
        spec: dict = {"kind": kind}
        units = decl.get("units") or ["epoch", "iteration"]
        spec["unit"] = cleaned.get("unit") if cleaned.get("unit") in units else units[0]
        for param in decl["params"]:
            value = cleaned.get(field_name(kind, param["name"]))
            if value is not None and value != "":
                spec[param["name"]] = value
        try:
            cleaned["spec"] = schedules.validate(spec)
        except schedules.SpecError as exc:
            self._add_spec_errors(kind, exc.errors)
        return cleaned

    def _add_spec_errors(self, kind: str, errors: dict[str, list[str]]) -> None:
        for path, messages in errors.items():
            head, _, rest = path.partition(".")
            target = field_name(kind, head)
            if target not in self.fields:
                target = "unit" if head == "unit" else None
            if rest.isdigit():
                rest = f"entry {int(rest) + 1}"  # boundaries.1 is the second entry of the list
            for message in messages:
                self.add_error(target, f"{rest}: {message}" if rest else message)


def workload_choices() -> list[tuple[str, str]]:
    return [(w["name"], f"{w['name']} — {w['title']}") for w in list_workloads()]


def _max_epochs_validator(value: int) -> None:
    if value > settings.ARENA_MAX_EPOCHS:
        raise forms.ValidationError(f"At most {settings.ARENA_MAX_EPOCHS} epochs per run.")


def workload_options_field() -> forms.Field:
    """The run and study forms' workload options: JSON, refused before anything walks it when nested absurdly
    deep; checked against the workload by check_workload_options."""
    return NestedSpecsField(
        required=False,
        label="Workload options",
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text='JSON; empty: the workload\'s defaults. image-folder needs its folder: {"path": "/data/flowers", '
        '"model": "resnet18", "image_size": 128}',
    )


def check_workload_options(form: forms.Form, data: dict) -> dict:
    """data["workload_options"] checked against data["workload"], kept where they differ from its defaults;
    a form error naming the option otherwise."""
    if "workload" in data and "workload_options" not in form.errors:
        try:
            data["workload_options"] = get_workload(data["workload"]).changed_options(data.get("workload_options"))
        except ValueError as exc:
            form.add_error("workload_options", str(exc))
    return data


class DeviceField(forms.ChoiceField):
    """auto, cpu or gpu: the kind of worker a run goes to (dashboard/fleet.py)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(
            choices=Run.Device.choices,
            initial=Run.Device.AUTO,
            help_text="auto: a GPU worker for the workloads that prefer one, where GPU workers exist",
            required=False,
            **kwargs,
        )

    def clean(self, value: str) -> str:
        return super().clean(value) or Run.Device.AUTO

    def validate(self, value: str) -> None:
        super().validate(value)
        try:
            fleet.check_device(value)
        except fleet.NoGpuWorkers as exc:
            raise forms.ValidationError(str(exc)) from None


class RunForm(forms.Form):
    policy = forms.ModelChoiceField(queryset=None)
    workload = forms.ChoiceField()
    epochs = forms.IntegerField(min_value=1, initial=5, validators=[_max_epochs_validator])
    seed = forms.IntegerField(min_value=0, max_value=2**31 - 1, initial=0)
    device = DeviceField()
    workload_options = workload_options_field()

    def __init__(self, *args, user=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["policy"].queryset = access.usable_policies(user).order_by("name")
        self.fields["workload"].choices = workload_choices()

    def clean(self):
        return check_workload_options(self, super().clean())


HALVING_ETA = 3  # the form's one choice; the API takes 2, 3 or 4


class StudyForm(forms.Form):
    name = forms.CharField(max_length=100)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    workload = forms.ChoiceField()
    policies = forms.ModelMultipleChoiceField(queryset=None, widget=forms.CheckboxSelectMultiple)
    seeds = NumberListField(integer=True, initial="0, 1, 2", help_text="comma-separated, e.g. 0, 1, 2")
    epochs = forms.IntegerField(min_value=1, initial=10, validators=[_max_epochs_validator])
    target_accuracy = forms.FloatField(
        required=False, min_value=0.0, max_value=1.0, help_text="a fraction; empty: the workload's own target"
    )
    robustness = forms.BooleanField(
        required=False, label="Base-LR robustness: also run every policy with its LRs × 0.1, 0.5, 5 and 10"
    )
    halving = forms.BooleanField(
        required=False,
        label="Successive halving (η = 3): after a third of the budget only the best third of the policies go on",
    )
    device = DeviceField()
    workload_options = workload_options_field()

    def __init__(self, *args, user=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["policies"].queryset = access.usable_policies(user).select_related("team").order_by("name")
        self.fields["policies"].label_from_instance = lambda p: f"{p.name} ({p.kind}, {p.team.name})"
        self.fields["workload"].choices = workload_choices()
        from dashboard.studies import DEFAULT_LR_SCALES

        self.lr_scale_count = len(DEFAULT_LR_SCALES)  # for the page's count of the runs it will queue
        self.max_runs = settings.ARENA_MAX_STUDY_RUNS

    def clean_seeds(self):
        seeds = self.cleaned_data["seeds"]
        if seeds is None:
            raise forms.ValidationError("Give at least one seed.")
        if len(seeds) > 20 or len(set(seeds)) != len(seeds) or any(s < 0 or s > 2**31 - 1 for s in seeds):
            raise forms.ValidationError("Up to 20 different seeds from 0 to 2147483647.")
        return seeds

    def clean(self):
        cleaned = check_workload_options(self, super().clean())
        from dashboard.studies import DEFAULT_LR_SCALES

        cleaned["lr_scales"] = DEFAULT_LR_SCALES if cleaned.get("robustness") else [1.0]
        policies, seeds = cleaned.get("policies"), cleaned.get("seeds")
        if policies and seeds:
            runs = len(policies) * len(seeds) * len(cleaned["lr_scales"])
            if runs > settings.ARENA_MAX_STUDY_RUNS:
                self.add_error("seeds", f"This study would queue {runs} runs; at most {settings.ARENA_MAX_STUDY_RUNS}.")
        cleaned["halving_eta"] = HALVING_ETA if cleaned.get("halving") else None
        if cleaned["halving_eta"] and cleaned.get("epochs"):
            if problem := halving.budget_problem(cleaned["epochs"], HALVING_ETA):
                self.add_error("halving", problem)
        return cleaned


class RunPickerForm(forms.Form):
    """Filters for the compare page's runs table; every field optional (a GET form)."""

    workload = forms.ChoiceField(required=False)
    policy = forms.ModelChoiceField(queryset=None, required=False, empty_label="any policy")
    status = forms.ChoiceField(required=False)
    study = forms.ModelChoiceField(queryset=None, required=False, empty_label="any study")
    since = forms.DateField(required=False, label="from", widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, label="to", widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args, user=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        from dashboard.models import Run

        self.fields["workload"].choices = [("", "any workload"), *workload_choices()]
        self.fields["status"].choices = [("", "any status"), *Run.Status.choices]
        self.fields["policy"].queryset = access.visible_policies(user).order_by("name")
        self.fields["study"].queryset = access.studies_for(user).order_by("-created_at")

    def filter(self, runs):
        if not self.is_valid():
            return runs
        data = self.cleaned_data
        for name in ("workload", "policy", "status", "study"):
            if data.get(name):
                runs = runs.filter(**{name: data[name]})
        if data.get("since"):
            runs = runs.filter(created_at__date__gte=data["since"])
        if data.get("until"):
            runs = runs.filter(created_at__date__lte=data["until"])
        return runs
