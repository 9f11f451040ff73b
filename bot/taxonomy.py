"""The closed sets of PRODUCT.md, one enum each. Slugs are stable; display names are for people."""

from __future__ import annotations

from enum import StrEnum


class Service(StrEnum):
    consultation = "consultation"
    legal_aid = "legal_aid"
    mediation = "mediation"
    lawyer = "lawyer"
    notarization = "notarization"
    judicial_appraisal = "judicial_appraisal"
    enterprise_complaint = "enterprise_complaint"
    post_release_support = "post_release_support"
    community_correction = "community_correction"
    drug_rehab = "drug_rehab"
    prison_visit = "prison_visit"


class Topic(StrEnum):
    marriage_family = "marriage_family"
    inheritance = "inheritance"
    labor = "labor"
    traffic = "traffic"
    debt = "debt"
    contract = "contract"
    property = "property"
    tort = "tort"
    medical = "medical"
    consumer = "consumer"
    land_demolition = "land_demolition"
    administrative = "administrative"
    criminal = "criminal"
    company = "company"
    construction = "construction"
    ip = "ip"
    other = "other"


class Act(StrEnum):
    """Dialogue acts; ``question`` marks a message that asks something legal."""

    greet = "greet"
    goodbye = "goodbye"
    thanks = "thanks"
    affirm = "affirm"
    deny = "deny"
    ask_human = "ask_human"
    chitchat = "chitchat"
    out_of_scope = "out_of_scope"
    question = "question"


class Kind(StrEnum):
    """What a citizen sent, as every channel reports it to the engine."""

    text = "text"
    button = "button"  # a pressed button, a typed menu number, a menu click
    command = "command"  # /start, /help …, or a keyword a channel maps to one
    location = "location"
    event = "event"  # subscribe, unsubscribe
    media = "media"  # a photo, voice, sticker … without words


class Outcome(StrEnum):
    answered = "answered"
    resolved_by_lawyer = "resolved_by_lawyer"
    referred = "referred"
    emergency_referred = "emergency_referred"
    out_of_scope = "out_of_scope"
    abandoned = "abandoned"
    withdrawn = "withdrawn"


class Role(StrEnum):
    """Console accounts: lawyers and admins read citizens' chats; office staff handle their office's
    applications (services/); managers read the figures (handoff/stats.py)."""

    lawyer = "lawyer"
    admin = "admin"
    office = "office"
    manager = "manager"


#: The roles that open the queue, the chats and Telegram lawyer mode, and that a chat can be handed to.
CHAT_ROLES = (Role.lawyer.value, Role.admin.value)


class ConversationStatus(StrEnum):
    bot = "bot"
    clarifying = "clarifying"
    waiting = "waiting"
    with_lawyer = "with_lawyer"
    closed = "closed"


class TicketStatus(StrEnum):
    waiting = "waiting"
    claimed = "claimed"
    resolved = "resolved"
    expired = "expired"
    cancelled = "cancelled"


class Priority(StrEnum):
    """Queue order, highest first. ``overdue``: nobody claimed it in time (the SLA raised it); it goes
    before ordinary chats but never before a citizen in danger."""

    urgent = "urgent"
    overdue = "overdue"
    normal = "normal"


SERVICE_NAMES: dict[Service, tuple[str, str]] = {
    Service.consultation: ("法律咨询", "Legal consultation"),
    Service.legal_aid: ("法律援助", "Legal aid"),
    Service.mediation: ("人民调解", "Mediation"),
    Service.lawyer: ("律师服务", "Lawyer services"),
    Service.notarization: ("公证服务", "Notarization"),
    Service.judicial_appraisal: ("司法鉴定", "Judicial appraisal"),
    Service.enterprise_complaint: ("企业投诉", "Enterprise complaints"),
    Service.post_release_support: ("安置帮教", "Post-release support"),
    Service.community_correction: ("社区矫正", "Community correction"),
    Service.drug_rehab: ("社区戒毒", "Community drug rehabilitation"),
    Service.prison_visit: ("监狱在线探视", "Online prison visits"),
}

TOPIC_NAMES: dict[Topic, tuple[str, str]] = {
    Topic.marriage_family: ("婚姻家庭", "Marriage and family"),
    Topic.inheritance: ("继承", "Inheritance"),
    Topic.labor: ("劳动争议", "Labour disputes"),
    Topic.traffic: ("交通事故", "Traffic accidents"),
    Topic.debt: ("借贷债务", "Loans and debts"),
    Topic.contract: ("合同纠纷", "Contracts"),
    Topic.property: ("房产物业与租赁", "Housing, property and tenancy"),
    Topic.tort: ("侵权与人身损害", "Torts and personal injury"),
    Topic.medical: ("医疗纠纷", "Medical disputes"),
    Topic.consumer: ("消费维权", "Consumer rights"),
    Topic.land_demolition: ("征地拆迁", "Land expropriation and demolition"),
    Topic.administrative: ("行政争议", "Administrative disputes"),
    Topic.criminal: ("刑事", "Criminal matters"),
    Topic.company: ("公司与商事", "Company and commercial"),
    Topic.construction: ("建设工程", "Construction projects"),
    Topic.ip: ("知识产权", "Intellectual property"),
    Topic.other: ("其他", "Other"),
}


def display_name(slug: Service | Topic, lang: str = "zh") -> str:
    names = SERVICE_NAMES.get(slug) if isinstance(slug, Service) else TOPIC_NAMES.get(slug)  # type: ignore[call-overload]
    if names is None:
        return str(slug)
    return names[1] if lang == "en" else names[0]
