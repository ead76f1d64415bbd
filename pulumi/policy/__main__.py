"""jinbao-level3: `pulumi preview --policy-pack pulumi/policy` enforces these on every stack."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pulumi_policy import EnforcementLevel, PolicyPack, ResourceValidationPolicy, StackValidationPolicy
from rules import CHECKS, STACK_CHECKS

PolicyPack(
    name="jinbao-level3",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=[
        ResourceValidationPolicy(name=name, description=description, validate=check)
        for name, (description, check) in CHECKS.items()
    ]
    + [
        StackValidationPolicy(name=name, description=description, validate=check)
        for name, (description, check) in STACK_CHECKS.items()
    ],
)
