"""Forms generated from the trainer's own declarations.

The policy form has one fieldset per kind, built from
`trainer.schedules.catalog()`: the kind declares its parameters once, and the
form, the API validation and the docs all follow from that declaration.
Field names are `<KIND>__<param>`; only the chosen kind's fields are read.
"""

from __future__ import annotations

from functools import lru_cache

from django import forms
from django.conf import settings

from dashboard import access
from trainer import schedules
from trainer.workloads import list_workloads

# Kinds whose parameters are plain numbers or number lists can be edited by
# this form; composite kinds are created through the API (their editor comes
# with the full catalog work).
EDITABLE_TYPES = {"float", "int", "float_list", "int_list"}


@lru_cache(maxsize=1)
def editable_kinds() -> tuple[dict, ...]:
    return tuple(decl for decl in schedules.catalog() if all(p["type"] in EDITABLE_TYPES for p in decl["params"]))


def field_name(kind: str, param: str) -> str:
    return f"{kind}__{param}"


def _parse_number_list(raw: str, *, integer: bool) -> list:
    items = [item.strip() for item in raw.replace(";", ",").split(",") if item.strip()]
    if not items:
        raise forms.ValidationError("Enter at least one number, separated by commas.")
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
            return ", ".join(str(v) for v in value)
        return value

    def clean(self, value):
        value = super().clean(value)
        if value in self.empty_values:
            return None
        return _parse_number_list(value, integer=self.integer)


def _param_field(param: dict) -> forms.Field:
    common = {
        "required": False,
        "label": param["name"],
        "help_text": param.get("help", ""),
        "initial": param.get("default"),
    }
    kind = param["type"]
    if kind == "float":
        return forms.FloatField(widget=forms.NumberInput(attrs={"step": "any"}), **common)
    if kind == "int":
        return forms.IntegerField(**common)
    return NumberListField(integer=kind == "int_list", **common)


class PolicyForm(forms.Form):
    name = forms.CharField(max_length=100)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    kind = forms.ChoiceField()

    def __init__(self, *args, team=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.team = team
        self.fields["kind"].choices = [(d["kind"], f"{d['kind']} — {d['label']}") for d in editable_kinds()]
        for decl in editable_kinds():
            for param in decl["params"]:
                self.fields[field_name(decl["kind"], param["name"])] = _param_field(param)

    def kind_fieldsets(self) -> list[dict]:
        """What the template renders: one fieldset per kind, with its bound fields."""
        return [
            {
                "kind": decl["kind"],
                "label": decl["label"],
                "description": decl.get("description", ""),
                "formula": decl.get("formula", ""),
                "fields": [self[field_name(decl["kind"], p["name"])] for p in decl["params"]],
            }
            for decl in editable_kinds()
        ]

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if self.team is not None and self.team.policies.filter(name=name).exists():
            raise forms.ValidationError("Your team already has a policy with this name.")
        return name

    def clean(self):
        cleaned = super().clean()
        kind = cleaned.get("kind")
        if not kind:
            return cleaned
        # Only the chosen kind's fields matter; the others are the other fieldsets' leftovers.
        for name in [n for n in self._errors if "__" in n and not n.startswith(f"{kind}__")]:
            del self._errors[name]
        decl = next(d for d in editable_kinds() if d["kind"] == kind)
        spec: dict = {"kind": kind}
        for param in decl["params"]:
            name = field_name(kind, param["name"])
            if name in self.errors:
                continue
            value = cleaned.get(name)
            if value is not None:
                spec[param["name"]] = value
        if any(field_name(kind, p["name"]) in self.errors for p in decl["params"]):
            return cleaned
        try:
            cleaned["spec"] = schedules.validate(spec)
        except schedules.SpecError as exc:
            for path, messages in exc.errors.items():
                target = field_name(kind, path) if field_name(kind, path) in self.fields else None
                for message in messages:
                    self.add_error(target, message if target else f"{path}: {message}")
        return cleaned


def workload_choices() -> list[tuple[str, str]]:
    return [(w["name"], f"{w['name']} — {w['title']}") for w in list_workloads()]


class RunForm(forms.Form):
    policy = forms.ModelChoiceField(queryset=None)
    workload = forms.ChoiceField()
    epochs = forms.IntegerField(min_value=1, initial=5)
    seed = forms.IntegerField(min_value=0, max_value=2**31 - 1, initial=0)

    def __init__(self, *args, user=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["policy"].queryset = access.policies_for(user).order_by("name")
        self.fields["workload"].choices = workload_choices()
        self.fields["epochs"].validators.append(_max_epochs_validator)
        self.fields["epochs"].widget.attrs["max"] = settings.ARENA_MAX_EPOCHS


def _max_epochs_validator(value: int) -> None:
    if value > settings.ARENA_MAX_EPOCHS:
        raise forms.ValidationError(f"At most {settings.ARENA_MAX_EPOCHS} epochs per run.")
