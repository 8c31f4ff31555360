"""The words a plan may use: response levels, plan kinds, resource type keys (DOMAIN.md section 4), the roles that
carry tasks and the channels notices travel by. Plans are checked against these when they are loaded."""

from __future__ import annotations

from enum import StrEnum
from types import MappingProxyType
from typing import Final, Literal

Level = Literal["I", "II", "III", "IV"]
# Most severe first: I (特别重大) … IV (一般).
LEVELS: Final[tuple[Level, ...]] = ("I", "II", "III", "IV")
SEVERITY: Final = MappingProxyType({"I": 4, "II": 3, "III": 2, "IV": 1})


def at_least(level: str, floor: str) -> bool:
    """Whether ``level`` is as severe as ``floor`` or more (II is at least III)."""
    return SEVERITY[level] >= SEVERITY[floor]


def levels_from(floor: str) -> tuple[str, ...]:
    """The levels a plan with lowest activating grade ``floor`` must define: ``floor`` and every more severe one."""
    return tuple(level for level in LEVELS if at_least(level, floor))


class PlanKind(StrEnum):
    """China's layering of plans: special (national/provincial special plans), departmental, local."""

    special = "special"
    departmental = "departmental"
    local = "local"


class TaskStatus(StrEnum):
    pending = "pending"
    started = "started"
    done = "done"


# What a person does to a task (POST /tasks/{id}/start, /complete, /reassign).
TaskAction = Literal["start", "complete", "reassign"]


# DOMAIN.md section 4: dispatchable units and fixed resources. A plan may require either kind.
RESOURCE_TYPES: Final = frozenset(
    {
        "ambulance",
        "fire_engine",
        "ladder_truck",
        "rescue_team",
        "hazmat_team",
        "police_unit",
        "swat_team",
        "medical_team",
        "epidemic_team",
        "boat",
        "helicopter",
        "excavator",
        "command_vehicle",
        "hospital",
        "fire_station",
        "police_station",
        "shelter",
        "supply_depot",
        "school",
    }
)

# The positions a task is given to, in the command structure of a response (现场指挥部 and its groups).
ROLES: Final = MappingProxyType(
    {
        "incident_commander": ("现场总指挥", "incident commander"),
        "duty_officer": ("值班员", "duty officer"),
        "command_staff": ("指挥部办公室", "command post staff"),
        "operations_lead": ("抢险救援组组长", "operations section lead"),
        "fire_rescue_lead": ("消防救援组组长", "fire and rescue lead"),
        "hazmat_lead": ("危化品处置组组长", "hazmat lead"),
        "medical_lead": ("医疗救治组组长", "medical lead"),
        "public_health_lead": ("卫生防疫组组长", "public health lead"),
        "police_lead": ("治安警戒组组长", "police and security lead"),
        "traffic_lead": ("交通管制组组长", "traffic control lead"),
        "engineering_lead": ("工程抢险组组长", "engineering lead"),
        "utility_lead": ("供电供水保障组组长", "utilities lead"),
        "environment_lead": ("环境监测组组长", "environmental monitoring lead"),
        "expert_lead": ("专家组组长", "expert group lead"),
        "monitoring_lead": ("监测预警组组长", "monitoring and warning lead"),
        "logistics_lead": ("后勤保障组组长", "logistics lead"),
        "shelter_lead": ("转移安置组组长", "evacuation and shelter lead"),
        "communications_lead": ("通信保障组组长", "communications lead"),
        "public_information": ("新闻宣传组", "public information officer"),
        "liaison": ("联络员", "liaison officer"),
        "investigation_lead": ("调查评估组组长", "investigation lead"),
        "negotiation_lead": ("谈判组组长", "negotiation lead"),
    }
)

CHANNELS: Final = frozenset({"phone", "sms", "radio", "fax", "system", "email"})
