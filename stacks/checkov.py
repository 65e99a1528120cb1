"""checkov acknowledgements: the findings left on purpose, from one committed file, per resource.

``stacks/checkov_skips.json`` lists each skipped check with the resources it applies to
(``<stack part>/<logical id prefix>`` of a resource of the entry's ``type``) and the reason.
:func:`apply_checkov_skips` writes them into those resources' ``Metadata``
(``checkov: {skip: [{id, comment}]}``), which checkov reads from the synthesized templates.
A check is never skipped globally.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import jsii
from aws_cdk import CfnResource, IAspect, Stack
from constructs import IConstruct

SKIPS_FILE = Path(__file__).resolve().parent / "checkov_skips.json"


@dataclass(frozen=True)
class Skip:
    check: str
    type: str
    part: str
    prefix: str
    reason: str


def load_skips(path: Path = SKIPS_FILE) -> list[Skip]:
    entries = json.loads(path.read_text())["skips"]
    return [
        Skip(entry["check"], entry["type"], resource.split("/", 1)[0], resource.split("/", 1)[1], entry["reason"])
        for entry in entries
        for resource in entry["resources"]
    ]


@jsii.implements(IAspect)
class CheckovSkips:
    """Adds the skips of the file to every matching CfnResource of a stack named ``...-<part>``."""

    def __init__(self, skips: list[Skip]) -> None:
        self._skips = skips

    def visit(self, node: IConstruct) -> None:
        if not isinstance(node, CfnResource):
            return
        stack = Stack.of(node)
        part = stack.stack_name.rsplit("-", 1)[-1]
        logical_id = str(stack.resolve(node.logical_id))
        matching = [
            s
            for s in self._skips
            if s.part == part and s.type == node.cfn_resource_type and logical_id.startswith(s.prefix)
        ]
        if matching:
            node.add_metadata("checkov", {"skip": [{"id": s.check, "comment": s.reason} for s in matching]})


def apply_checkov_skips(scope: IConstruct) -> None:
    from aws_cdk import Aspects  # noqa: PLC0415

    Aspects.of(scope).add(CheckovSkips(load_skips()))
