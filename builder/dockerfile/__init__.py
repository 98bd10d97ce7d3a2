"""The Dockerfile frontend: pure parsing, typed instructions, expansion and build planning.

    dockerfile = parse_dockerfile(text, "Dockerfile")
    plan = plan_build(dockerfile, build_args, target, target_platform, build_platform)
    for stage in plan.stages:                   # dependency order; plan.levels for parallelism
        scope = plan.scope(base_config_env)     # ARG/ENV state over the base image's Env
        for step in stage.steps:
            ins = scope.step(step.instruction)  # expanded with the live environment
"""

from builder.dockerfile.convert import parse_trigger
from builder.dockerfile.dockerfile import Dockerfile, Stage, parse_dockerfile
from builder.dockerfile.instructions import (
    AddInstruction,
    ArgDef,
    ArgInstruction,
    CmdInstruction,
    CommandLine,
    CopyInstruction,
    EntrypointInstruction,
    EnvInstruction,
    ExposeInstruction,
    FromInstruction,
    HealthcheckInstruction,
    InlineFile,
    Instruction,
    KeyValue,
    LabelInstruction,
    MaintainerInstruction,
    OnbuildInstruction,
    RunArgv,
    RunInstruction,
    ShellInstruction,
    StopsignalInstruction,
    UserInstruction,
    VolumeInstruction,
    WorkdirInstruction,
)
from builder.dockerfile.mounts import CacheSharing, Mount, MountType
from builder.dockerfile.parser import Directives, Heredoc
from builder.dockerfile.plan import (
    BaseImage,
    BaseKind,
    BuildPlan,
    PlannedStage,
    PlannedStep,
    plan_build,
)
from builder.dockerfile.scope import PROXY_ARGS, ArgContext, StageScope, platform_args
from builder.dockerfile.shell import ShellLex

__all__ = [
    "AddInstruction", "ArgContext", "ArgDef", "ArgInstruction", "BaseImage", "BaseKind",
    "BuildPlan", "CacheSharing", "CmdInstruction", "CommandLine", "CopyInstruction",
    "Directives", "Dockerfile", "EntrypointInstruction", "EnvInstruction", "ExposeInstruction",
    "FromInstruction", "HealthcheckInstruction", "Heredoc", "InlineFile", "Instruction",
    "KeyValue", "LabelInstruction", "MaintainerInstruction", "Mount", "MountType",
    "OnbuildInstruction", "PROXY_ARGS", "PlannedStage", "PlannedStep", "RunArgv",
    "RunInstruction", "ShellInstruction", "ShellLex", "Stage", "StageScope",
    "StopsignalInstruction", "UserInstruction", "VolumeInstruction", "WorkdirInstruction",
    "parse_dockerfile", "parse_trigger", "plan_build", "platform_args",
]
