"""Masking the holder on public pages (脱敏): enough to recognise a licence one holds, not enough
to learn who holds a licence one does not.

Rules (each a function below, applied per character, so CJK names count one per character):

- a person's name (持证主体 of a 公民身份号码 holder) keeps its first character:
  ``张三`` → ``张*``, ``欧阳娜娜`` → ``欧***``;
- an organisation's name keeps its first 2 and last 2 characters:
  ``江苏某某科技有限公司`` → ``江苏******公司``; a name of 4 characters or fewer keeps only
  the first;
- a 公民身份号码 keeps the first 6 (the region of registration) and the last 4:
  ``320102199003071234`` → ``320102********1234``;
- a unified social credit code keeps the first 8 (registration authority and region) and
  the last 2: ``91320100MA1ABCDE0X`` → ``91320100********0X``;
- any other identifier keeps its first 2 and last 2 characters.

A value too short to hide at least one character by its rule keeps only its first character.

The mask character is ``*``; masked text keeps the length of the original so that a holder
can compare it with their own document.
"""

from __future__ import annotations

__all__ = [
    "MASK",
    "mask_keep",
    "mask_person_name",
    "mask_organisation_name",
    "mask_holder_name",
    "mask_holder_id",
    "PERSON_ID_TYPE",
    "ORGANISATION_ID_TYPE",
]

MASK = "*"
PERSON_ID_TYPE = "111"
"""GB/T 36903 持证主体代码类型: 公民身份号码."""
ORGANISATION_ID_TYPE = "001"
"""GB/T 36903 持证主体代码类型: 统一社会信用代码."""


def mask_keep(text: str, head: int, tail: int) -> str:
    """``text`` with all but its first ``head`` and last ``tail`` characters replaced by ``*``.

    When ``text`` is too short to hide at least one character that way, it is masked whole
    except (when longer than one character) its first character, so a mask never reveals
    everything.
    """
    text = text.strip()
    n = len(text)
    if n == 0:
        return ""
    if n <= head + tail:
        return text[0] + MASK * (n - 1) if n > 1 else MASK
    return text[:head] + MASK * (n - head - tail) + text[n - tail :]


def mask_person_name(name: str) -> str:
    """张三 → 张*: only the surname's first character stays."""
    name = name.strip()
    return name[:1] + MASK * (len(name) - 1) if len(name) > 1 else MASK * len(name)


def mask_organisation_name(name: str) -> str:
    """江苏某某科技有限公司 → 江苏******公司 (first 2 and last 2 characters)."""
    name = name.strip()
    if len(name) <= 4:
        return mask_person_name(name)
    return mask_keep(name, 2, 2)


def mask_holder_name(name: str, id_type: str) -> str:
    """The holder's name masked by the kind of holder its id type says it is."""
    return mask_person_name(name) if id_type == PERSON_ID_TYPE else mask_organisation_name(name)


def mask_holder_id(holder_id: str, id_type: str) -> str:
    """公民身份号码 6+4, USCC 8+2, anything else 2+2 characters kept."""
    if id_type == PERSON_ID_TYPE:
        return mask_keep(holder_id, 6, 4)
    if id_type == ORGANISATION_ID_TYPE:
        return mask_keep(holder_id, 8, 2)
    return mask_keep(holder_id, 2, 2)
