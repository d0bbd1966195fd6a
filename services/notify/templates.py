"""Message texts per event and locale, as files a deployment can edit
without code: `<locale>/<name>.txt` in the directory NOTIFY_TEMPLATES_DIR,
falling back to the ones shipped in `message_templates/`.  Templates are
Jinja2 rendered in a sandbox (an edited template cannot reach Python
internals), with StrictUndefined so a misspelt variable fails loudly."""

from __future__ import annotations

from pathlib import Path

from jinja2 import ChoiceLoader, FileSystemLoader, StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

from .segments import fit, truncate

SHIPPED = Path(__file__).parent / "message_templates"
LOCALES = ("zh-CN", "en")
DEFAULT_LOCALE = "zh-CN"

CATEGORY_NAMES = {
    "daily_necessities": {"zh-CN": "生活物资", "en": "daily necessities"},
    "protective_supplies": {"zh-CN": "防护用品", "en": "protective supplies"},
    "medicine": {"zh-CN": "药品", "en": "medicine"},
    "psychological_support": {"zh-CN": "心理疏导", "en": "psychological support"},
    "policy_question": {"zh-CN": "政策咨询", "en": "policy question"},
    "suggestion": {"zh-CN": "意见建议", "en": "suggestion"},
    "thanks": {"zh-CN": "感谢", "en": "thanks"},
    "other": {"zh-CN": "其他", "en": "other"},
}

URGENCY_NAMES = {
    "critical": {"zh-CN": "特急", "en": "CRITICAL"},
    "high": {"zh-CN": "紧急", "en": "urgent"},
    "normal": {"zh-CN": "普通", "en": "normal"},
    "low": {"zh-CN": "不急", "en": "low"},
}

RECIPIENT_NAMES = {
    "requester": {"zh-CN": "求助人", "en": "requester"},
    "team": {"zh-CN": "志愿队", "en": "team"},
    "member": {"zh-CN": "志愿者", "en": "volunteer"},
    "coordinator": {"zh-CN": "协调员", "en": "coordinator"},
}
CHANNEL_NAMES = {"sms": {"zh-CN": "短信", "en": "SMS"}, "chat": {"zh-CN": "群聊", "en": "chat"}}
STATUS_NAMES = {
    "queued": {"zh-CN": "排队中", "en": "still queued"},
    "offered": {"zh-CN": "已派单待接受", "en": "offered, not yet accepted"},
    "accepted": {"zh-CN": "已接单", "en": "accepted"},
    "in_progress": {"zh-CN": "处理中", "en": "in progress"},
    "done": {"zh-CN": "已完成", "en": "done"},
    "closed": {"zh-CN": "已关闭", "en": "closed"},
    "cancelled": {"zh-CN": "已取消", "en": "cancelled"},
    "escalated": {"zh-CN": "已升级", "en": "escalated"},
}

_LABELS = {
    "category": CATEGORY_NAMES, "urgency": URGENCY_NAMES,
    "recipient": RECIPIENT_NAMES, "channel": CHANNEL_NAMES, "status": STATUS_NAMES,
}


class MessageTemplates:
    def __init__(self, directory: Path | None = None) -> None:
        loaders = [FileSystemLoader(str(directory))] if directory else []
        self.env = SandboxedEnvironment(
            loader=ChoiceLoader([*loaders, FileSystemLoader(str(SHIPPED))]),
            undefined=StrictUndefined,
            autoescape=False,
            keep_trailing_newline=False,
        )

    @staticmethod
    def locale_for(locale: str | None) -> str:
        return locale if locale in LOCALES else DEFAULT_LOCALE

    def render(self, name: str, locale: str | None, /, **values: object) -> str:
        """The text of message `name` in `locale` (zh-CN when unknown); codes
        such as `category` also come as `category_name` in that language."""
        locale = self.locale_for(locale)
        for key, names in _LABELS.items():
            if key in values:
                code = values[key]
                values[f"{key}_name"] = "" if code is None else names.get(str(code), {}).get(locale, str(code))
        return self.env.get_template(f"{locale}/{name}.txt").render(**values).strip()

    def render_sms(self, name: str, locale: str | None, max_segments: int,
                   /, free: str | None = None, **values: object) -> str:
        """Like `render`, kept within `max_segments` SMS segments: the value
        named `free` (a summary, a reason) is shortened first."""
        if free is None:
            return truncate(self.render(name, locale, **values), max_segments)
        text = str(values.pop(free) or "")
        return fit(lambda shortened: self.render(name, locale, **{free: shortened}, **values),
                   text, max_segments)
