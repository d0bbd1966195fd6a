"""What the residents' form says, in zh-CN and en (no I/O)."""

from __future__ import annotations

from .categories import CATALOGUE

LANGUAGES = ("zh-CN", "en")

TEXT: dict[str, dict[str, str]] = {
    "zh-CN": {
        "title": "求助登记",
        "intro": "请填写以下信息，社区会尽快安排志愿者或工作人员联系您。",
        "category": "需要什么帮助",
        "description": "具体情况",
        "address": "详细地址（楼栋、单元、门牌号）",
        "name": "姓名",
        "phone": "手机号码",
        "people": "需要帮助的人数",
        "urgency": "紧急程度",
        "vulnerabilities": "以下情况（可多选）",
        "preferred_channel": "希望怎样联系您",
        "submit": "提交",
        "switch": "English",
        "fix": "请修改标出的内容后再提交。",
        "done_title": "已收到您的求助",
        "done_reference": "您的登记编号",
        "done_note": "请记下编号；打电话查询进度时报这个编号即可。",
        "unknown_community": "没有找到这个社区的登记表，请确认二维码。",
        "too_many": "提交太频繁，请稍后再试。",
        "low": "不急", "normal": "一般", "high": "紧急", "critical": "非常紧急",
        "elderly_alone": "独居老人", "disabled": "残障人士", "isolated": "正在隔离",
        "no_smartphone": "没有智能手机",
        "sms": "短信", "phone_call": "电话回访",
    },
    "en": {
        "title": "Ask for help",
        "intro": "Fill in this form and the community will arrange a volunteer or staff member to contact you.",
        "category": "What do you need",
        "description": "Details",
        "address": "Address (building, unit, flat)",
        "name": "Name",
        "phone": "Mobile number",
        "people": "How many people need help",
        "urgency": "How urgent",
        "vulnerabilities": "Any of these (tick all that apply)",
        "preferred_channel": "How should we contact you",
        "submit": "Send",
        "switch": "中文",
        "fix": "Please correct the marked fields and send again.",
        "done_title": "We have your request",
        "done_reference": "Your reference number",
        "done_note": "Keep this number; quote it when you phone to ask about your request.",
        "unknown_community": "There is no form for this community; please check the QR code.",
        "too_many": "Too many submissions; please try again in a moment.",
        "low": "Not urgent", "normal": "Normal", "high": "Urgent", "critical": "Very urgent",
        "elderly_alone": "Elderly, living alone", "disabled": "Disabled", "isolated": "In isolation",
        "no_smartphone": "No smartphone",
        "sms": "Text message", "phone_call": "Phone call",
    },
}

ERRORS: dict[str, dict[str, str]] = {
    "zh-CN": {
        "category": "请选择需要的帮助。",
        "description": "请简单说明情况（不超过2000字）。",
        "address": "请填写详细地址（不超过300字）。",
        "name": "请填写姓名（不超过100字）。",
        "phone": "请填写有效的手机号码，例如 138 0013 8000。",
        "people": "请填写1到1000之间的人数。",
        "urgency": "请选择紧急程度。",
        "vulnerabilities": "请从列表中选择。",
        "preferred_channel": "请选择联系方式。",
        "form": "表单已过期，请重新填写。",
    },
    "en": {
        "category": "Choose what you need.",
        "description": "Say briefly what is needed (at most 2000 characters).",
        "address": "Give the full address (at most 300 characters).",
        "name": "Give your name (at most 100 characters).",
        "phone": "Give a valid mobile number, e.g. 138 0013 8000 or +86 138 0013 8000.",
        "people": "Give a number from 1 to 1000.",
        "urgency": "Choose how urgent it is.",
        "vulnerabilities": "Choose from the list.",
        "preferred_channel": "Choose how we should contact you.",
        "form": "The form expired; please fill it in again.",
    },
}

# Where an error on a request field is shown on the form.
FORM_FIELD = {
    "category": "category", "description": "description", "location": "address",
    "location.address": "address", "requester": "name", "requester.name": "name",
    "requester.phone": "phone", "requester.preferred_channel": "preferred_channel",
    "people": "people", "urgency": "urgency", "vulnerabilities": "vulnerabilities",
}


def language(requested: str | None, accept_language: str | None) -> str:
    """?lang= first, then the browser's Accept-Language; Chinese by default."""
    if requested in LANGUAGES:
        return requested
    if accept_language and accept_language.lower().startswith("en"):
        return "en"
    return "zh-CN"


def categories(lang: str) -> list[tuple[str, str]]:
    return [(c.code, c.name_zh if lang == "zh-CN" else c.name_en) for c in CATALOGUE.values()]


def form_field(loc: tuple) -> str:
    parts = [str(p) for p in loc]
    for depth in (2, 1):
        if (key := ".".join(parts[:depth])) in FORM_FIELD:
            return FORM_FIELD[key]
    return "form"
