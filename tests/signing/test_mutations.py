"""Whatever byte of a signed letter is changed, verify either refuses with a SignatureError or
proves exactly the content that was signed: never another exception, never other content."""

from __future__ import annotations

import copy

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from signing import SignatureError, TrustStore, verify
from tests.signing.support import PKI, signed_letter


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_any_changed_byte_is_refused_or_changes_nothing_signed(
    pki: PKI, trust: TrustStore, data: st.DataObject
) -> None:
    original = signed_letter(pki.g22, timestamp="2026/01/15 09:30:00")
    expected = _content(verify(original, trust).signed_element)
    position = data.draw(st.integers(min_value=0, max_value=len(original) - 1), label="position")
    value = data.draw(st.integers(min_value=0, max_value=255), label="byte")
    mutated = original[:position] + bytes([value]) + original[position + 1 :]
    try:
        verified = verify(mutated, trust)
    except SignatureError:
        return
    assert _content(verified.signed_element) == expected


def _content(element: etree._Element) -> bytes:
    """The element alone in canonical form: with a processing instruction before the root (a
    changed byte can turn the XML declaration into one), lxml's c14n of the root in place writes
    xmlns="" on descendants that are in the default namespace; the copy has the same names."""
    return etree.tostring(copy.deepcopy(element), method="c14n")
