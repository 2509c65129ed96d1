"""Send on behalf (issue 16, DESIGN §6a) end to end: Postfix, Dovecot
SASL, slapd, the policy daemon and the milter.

The example directory with two changes made before the sync: Peter's
share cn=vacation (Sandra and Jana) carries mailgrantsSendOnBehalf:
TRUE, and Peter shares his mailbox with Tom too (cn=tom-now, open, no
such right). The submission chain is tests/lib/stack.py's (as
tests/integration/test_milter.py), messages go in with swaks, logged in
as the story's users.

Checked:
- Sandra, envelope her own, From: Peter + Sender: herself: accepted and
  relayed with both fields as written; the milter logs reason=on_behalf.
  The Sender: field may stand before From:, and From: may hold her own
  address beside Peter's, or many of Peter's addresses.
- From: Peter without Sender:, with Sender: someone else (Jana: not
  hers at all; info@abc.com: hers to send as, not her own address),
  with two Sender: addresses or two Sender: fields, and Sender: Peter,
  and her own address in From: beside Peter's with a Sender: not hers:
  rejected at the end of DATA with the reason, nothing relayed.
- The envelope sender Peter: refused by the policy daemon with the
  on_behalf_only text (the envelope is her own address).
- Tom, whose share has no such right: From: Peter + Sender: Tom is
  refused exactly as before (shared_read_only), and so is Sandra once
  the right is taken off the share again (and synced).
- The front ends agree: for every login and address, explain's
  may_send / may_send_on_behalf, the policy daemon's envelope verdict
  and the milter's verdict on From: alone and on From: + Sender: her
  own (spoken to the milter directly) say the same thing.
"""

import contextlib
import json
import re

import pytest

import example
from milter import milter_verdict
from stack import Stack
# The same swaks session and checks as the milter's own tests.
from test_milter import arrived, assert_rejected, send

SANDRA = (example.SANDRA, example.PASSWORDS[example.SANDRA])
TOM = (example.TOM, example.PASSWORDS[example.TOM])
PETER = example.PETER
VACATION = "cn=vacation," + example.PETER_DN
TOM_NOW = "cn=tom-now," + example.PETER_DN

SHARED_TEXT = ("550 5.7.1 From: <peter.mueller@abc.com>: mailbox shared "
               "with you for reading only; send from your own address")
NEEDS = ("550 5.7.1 From: <peter.mueller@abc.com>: you may send on behalf "
         "of this address only with a Sender: field holding your own "
         "address alone, not with ")


def set_flag(slapd, on):
    rc, _out, err = slapd.ldapmodify(
        "dn: %s\nchangetype: modify\n%s: mailgrantsSendOnBehalf\n%s"
        % (VACATION, "replace" if on else "delete",
           "mailgrantsSendOnBehalf: TRUE\n" if on else ""), root=True)
    assert rc == 0, err


def prepare(slapd):
    set_flag(slapd, True)
    rc, _out, err = slapd.ldapadd(
        "dn: %s\nobjectClass: mailgrantsShare\ncn: tom-now\n"
        "mailgrantsGrantee: %s\n" % (TOM_NOW, example.TOM_DN), root=True)
    assert rc == 0, err


@pytest.fixture(scope="module")
def stack(slapd, build_dir):
    prepare(slapd)
    with contextlib.closing(Stack(slapd, build_dir, prefix="mg-behalf-",
                                  milter=True)) as s:
        yield s


def relayed(stack, token):
    """The relayed message with this token (bytes), or None."""
    if not arrived(stack, token):
        return None
    with stack.sink.lock:
        return next(m["data"] for m in stack.sink.messages
                    if token.encode() in m["data"])


def test_from_owner_with_own_sender_is_delivered(stack):
    start = len(stack.milter.log())
    token, rc, out = send(stack, SANDRA, SANDRA[0],
                          ["From: Peter M\u00fcller <peter.mueller@abc.com>",
                           "Sender: Sandra Schuster "
                           "<sandra.schuster@abc.com>"])
    assert rc == 0, out
    data = relayed(stack, token)
    assert data is not None, "not relayed:\n" + out
    # Both fields arrive as written: clients show "Sandra on behalf
    # of Peter".
    head = data.split(b"\r\n\r\n", 1)[0].decode("utf-8")
    assert "From: Peter M\u00fcller <peter.mueller@abc.com>" in head
    assert "Sender: Sandra Schuster <sandra.schuster@abc.com>" in head
    stack.milter.wait_log(
        r"action=dunno login=sandra\.schuster@abc\.com header=from "
        r"address=<peter\.mueller@abc\.com> .* reason=on_behalf$",
        start=start)
    # One line per address sent on behalf, no more.
    lines = re.findall(r"^.* reason=on_behalf$", stack.milter.log()[start:],
                       re.M)
    assert len(lines) == 1, lines
    # The audit line names the share that gives the right (audit dn).
    assert " dn=%s action=dunno " % VACATION in lines[0], lines


@pytest.mark.parametrize("fields", [
    # Sender: first, then From:
    ["Sender: sandra.schuster@abc.com", "From: peter.mueller@abc.com"],
    # her own address beside Peter's
    ["From: sandra.schuster@abc.com, \"M\u00fcller, Peter\" "
     "<peter.mueller@abc.com>", "Sender: <Sandra.Schuster@ABC.com>"],
    # Peter's alias, and Sender: in another spelling of her address
    ["From: =?UTF-8?Q?Peter_M=C3=BCller?= <peter.m\u00fcller@abc.com>",
     "Sender: (Sandra) sandra.schuster+out@abc.com"],
    # many of Peter's addresses in one From: all wait for the Sender:
    ["From: " + ", ".join("peter.mueller+%d@abc.com" % i
                          for i in range(12)),
     "Sender: sandra.schuster@abc.com"],
], ids=["sender-first", "two-from-addresses", "alias-and-extension",
        "many-from-addresses"])
def test_on_behalf_variants_accepted(stack, fields):
    start = len(stack.milter.log())
    token, rc, out = send(stack, SANDRA, SANDRA[0], fields)
    assert rc == 0, out
    assert relayed(stack, token) is not None, out
    # Each of Peter's addresses logged once, as on_behalf.
    peters = len(re.findall(r"peter\.m", " ".join(
        f for f in fields if f.startswith("From:"))))
    lines = re.findall(r"^.* reason=on_behalf$",
                       stack.milter.log()[start:], re.M)
    assert len(lines) == peters, lines
    assert all("address=<peter.m" in line for line in lines), lines


@pytest.mark.parametrize("fields,text", [
    (["From: peter.mueller@abc.com"], NEEDS + "no Sender: field"),
    (["From: peter.mueller@abc.com", "Sender: info@abc.com"],
     NEEDS + "a Sender: that is not your own address"),
    (["From: peter.mueller@abc.com",
      "Sender: sandra.schuster@abc.com, makler@abc.com"],
     NEEDS + "a Sender: field without exactly one address"),
    (["From: peter.mueller@abc.com", "Sender: sandra.schuster@abc.com",
      "Sender: sandra.schuster@abc.com"],
     NEEDS + "more than one Sender: field"),
    # Someone else as Sender: not hers to write at all.
    (["From: peter.mueller@abc.com", "Sender: jana.meier@abc.com"],
     "550 5.7.1 Sender: <jana.meier@abc.com>: you may not send as this "
     "address"),
    # Peter as Sender: is sending as Peter.
    (["From: sandra.schuster@abc.com", "Sender: peter.mueller@abc.com"],
     "550 5.7.1 Sender: <peter.mueller@abc.com>: you may send on behalf "
     "of this address, not as it"),
    # Her own address in From: does not stand in for the Sender:.
    (["Sender: info@abc.com",
      "From: peter.mueller@abc.com, sandra.schuster@abc.com"],
     NEEDS + "a Sender: that is not your own address"),
], ids=["no-sender", "sender-company-mailbox", "sender-two-addresses",
        "two-sender-fields", "sender-someone-else", "sender-owner",
        "own-from-is-no-sender"])
def test_on_behalf_without_own_sender_rejected(stack, fields, text):
    start = len(stack.milter.log())
    token, rc, out = send(stack, SANDRA, SANDRA[0], fields)
    assert_rejected(stack, token, rc, out, text)
    if text.startswith(NEEDS):
        stack.milter.wait_log(
            r"dn=%s action=reject login=sandra\.schuster@abc\.com "
            r"header=from address=<peter\.mueller@abc\.com> .* "
            r"reason=on_behalf_only$" % re.escape(VACATION), start=start)


def test_envelope_sender_owner_rejected(stack):
    start = len(stack.policyd.log())
    token, rc, out = send(stack, SANDRA, PETER,
                          ["From: peter.mueller@abc.com",
                           "Sender: sandra.schuster@abc.com"])
    assert_rejected(stack, token, rc, out,
                    "554 5.7.1 <peter.mueller@abc.com>: Sender address "
                    "rejected: <peter.mueller@abc.com>: you may send on "
                    "behalf of this address, not as it; send from your own "
                    "address with From: <peter.mueller@abc.com> and "
                    "Sender: your own address")
    stack.policyd.wait_log(r"reason=on_behalf_only", start=start)


def test_share_without_the_right_as_before(stack):
    # Tom's share has no such right: From: Peter is refused as ever,
    # Sender: Tom or not.
    for fields in (["From: peter.mueller@abc.com",
                    "Sender: tom.berger@abc.com"],
                   ["From: peter.mueller@abc.com"]):
        token, rc, out = send(stack, TOM, TOM[0], fields)
        assert_rejected(stack, token, rc, out, SHARED_TEXT)
    r = stack.policyd.ask(TOM[0], PETER)
    assert r.startswith("REJECT 5.7.1 <peter.mueller@abc.com>: mailbox "
                        "shared with you for reading only"), r


def test_right_taken_off_is_today(stack):
    set_flag(stack.slapd, False)
    try:
        stack.sync()
        token, rc, out = send(stack, SANDRA, SANDRA[0],
                              ["From: peter.mueller@abc.com",
                               "Sender: sandra.schuster@abc.com"])
        assert_rejected(stack, token, rc, out, SHARED_TEXT)
        d = json.loads(stack.mg("explain", "--json", SANDRA[0],
                                PETER).stdout)
        assert (d["visible"], d["may_send"], d["may_send_on_behalf"]) == (
            True, False, False), d
    finally:
        set_flag(stack.slapd, True)
        stack.sync()


LOGINS = [example.SANDRA, example.JANA, example.PETER, example.TOM,
          example.ANNA]
ADDRESSES = [example.SANDRA, "makler@abc.com", example.JANA,
             "buchhaltung@abc.com", PETER, "peter.m\u00fcller@abc.com",
             "info@abc.com", "info@xyz.org"]


def test_front_ends_agree(stack):
    """explain, the policy daemon and the milter, login by address."""
    for login in LOGINS:
        for address in ADDRESSES:
            r = stack.mg("explain", "--json", login, address)
            assert r.returncode == 0, r.stderr
            d = json.loads(r.stdout)
            envelope = stack.policyd.ask(login, address)
            alone, _ = milter_verdict(stack.milter_socket, login,
                                      [("From", address)])
            paired, text = milter_verdict(
                stack.milter_socket, login,
                [("From", address), ("Sender", login)])
            what = (login, address, d, envelope, alone, paired, text)
            # The envelope: exactly what explain says she may send as.
            assert (envelope == "DUNNO") == d["may_send"], what
            # From: alone: the same.
            assert (alone == "a") == d["may_send"], what
            # From: + Sender: her own: send-as, or on behalf.
            assert (paired == "a") == (d["may_send"] or
                                       d["may_send_on_behalf"]), what
            # On behalf is never send-as, and only by a share.
            if d["may_send_on_behalf"]:
                assert not d["may_send"] and d["kind"] == "shared", what
                assert envelope.startswith("REJECT 5.7.1"), what
                assert "on behalf" in envelope, what
    # The rows that matter, spelt out.
    d = json.loads(stack.mg("explain", "--json", example.JANA,
                            "peter.m\u00fcller@abc.com").stdout)
    assert d["may_send_on_behalf"] and d["on_behalf_entry"] == VACATION, d
    d = json.loads(stack.mg("explain", "--json", example.TOM, PETER).stdout)
    assert d["visible"] and not d["may_send_on_behalf"], d
