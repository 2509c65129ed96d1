"""Roundcube's sharing dialog end to end (issue 14, `make
check-roundcube`).

Debian's roundcube with its bundled acl plugin, configured as the
README's "Sharing from your mail client" tells sites (its php block is
read from the README and put into this instance's config.inc.php),
served by Apache with mod_php on loopback (tests/lib/roundcube.py), in
front of the sharing tests' stack: the real slapd with our schema and
access rules, the follower, mailgrants share-service and Dovecot with
both plugins (tests/lib/sharestack.py). Headless Chromium, driven by
chromedriver, does what Peter does: log in, Settings, Folders, Inbox,
the Sharing tab, add Tom with read rights, save; edit Tom's row to add
"Other" (refused: it holds `a`; nothing changes); then select Tom's row
and delete it. After adding and deleting Tom's own IMAP session (imaplib) must
list `Shared/peter.mueller@abc.com` (the mailbox's INBOX, one folder
named by its address) and open `Shared/peter.mueller@abc.com/INBOX`,
then neither; the dialog's table and the share entries in LDAP must
say the same.

Screenshots (the dialog with Tom filled in, the Sharing tab with Tom's
row, "Other" refused, the tab after the removal), Apache's logs, how
long Tom's LIST took to follow (timings.txt) and, when a step fails,
the page's HTML and the servers' logs are kept under
<build>/test-artifacts/roundcube/.
"""

import os
import re
import time

import pytest

import daemonutil
import example
from example import JANA, PETER, PETER_DN, SANDRA, TOM, TOM_DN
from mgdovecot import listed
from roundcube import Roundcube, chromium, missing_tools, quit_chromium
from sharestack import running_stack

# What Tom's LIST shows of Peter's mailbox: one folder named by its
# address (README, "What a mail client shows"); the name with the
# INBOX level opens the same mailbox but is not listed.
SHARED = "Shared/%s" % PETER
SHARED_INBOX = SHARED + "/INBOX"
# the follower's latency, with room; the reply itself waits for it
SETTLE = 20.0
# a page or an AJAX answer of Roundcube on two busy cores
PAGE = 30.0
README = os.path.join(os.path.dirname(__file__), "..", "..", "README.md")


def readme_settings():
    """The php block of the README's Roundcube part: what a site adds
    to its config.inc.php."""
    with open(README) as f:
        text = f.read()
    part = text[text.index("## Sharing from your mail client"):]
    part = part[:part.index("\n## ", 1)]
    blocks = re.findall(r"```php\n(.*?)```", part, re.S)
    assert len(blocks) == 1, "README: one php block for Roundcube"
    return blocks[0]


class Browser:
    """Chromium on Roundcube; a failing wait keeps a screenshot, the
    page and the servers' logs."""

    def __init__(self, driver, artifacts, roundcube, stack):
        from selenium.webdriver.common.by import By
        self.By = By
        self.d = driver
        self.artifacts = artifacts
        self.roundcube = roundcube
        self.stack = stack

    def shot(self, name):
        path = os.path.join(self.artifacts, name + ".png")
        assert self.d.save_screenshot(path), path
        return path

    def failed(self, what):
        name = "failed-" + re.sub(r"[^a-z0-9]+", "-", what.lower())[:40]
        # the document in use (the settings frame's, often)
        with open(os.path.join(self.artifacts, name + "-now.html"),
                  "w") as f:
            f.write(self.d.page_source)
        self.d.switch_to.default_content()
        shot = self.shot(name)
        with open(os.path.join(self.artifacts, name + ".html"), "w") as f:
            f.write(self.d.page_source)
        return "%s (see %s)\n%s%s" % (what, shot, self.roundcube.logs(),
                                      self.stack.logs())

    def until(self, cond, what, timeout=PAGE):
        """cond(driver) -> a true value, polled; that value."""
        from selenium.common.exceptions import WebDriverException
        deadline = time.monotonic() + timeout
        while True:
            try:
                v = cond(self.d)
                if v:
                    return v
            except WebDriverException:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(self.failed("timed out: " + what))
            time.sleep(0.1)

    def visible(self, css, what):
        def find(d):
            for e in d.find_elements(self.By.CSS_SELECTOR, css):
                if e.is_displayed():
                    return e
            return None
        return self.until(find, what)

    def by_text(self, css, text, what):
        """The visible element matching css whose text is text."""
        def find(d):
            for e in d.find_elements(self.By.CSS_SELECTOR, css):
                if e.is_displayed() and e.text.strip() == text:
                    return e
            return None
        return self.until(find, what)

    def click(self, css, what):
        e = self.visible(css, what)
        e.click()
        return e

    def errors(self):
        """Roundcube's error messages shown (top document)."""
        return [e.text for e in self.d.find_elements(
            self.By.CSS_SELECTOR, "#messagestack .error")
            if e.is_displayed()]

    def in_settings_frame(self):
        self.d.switch_to.default_content()
        frame = self.visible("#preferences-frame", "the folder's frame")
        self.d.switch_to.frame(frame)

    def sharing(self):
        """The folder form's Sharing part: a tab on narrow screens, a
        section below the others on wide ones."""
        e = self.by_text("a.nav-link, legend", "Sharing",
                         "the Sharing tab or section")
        if e.tag_name == "a":
            e.click()
        self.visible("#acltable", "the sharing table")

    def acl_rows(self):
        """The Sharing tab's table: {identifier: row element}."""
        return {r.get_attribute("data-userid"): r for r in
                self.d.find_elements(self.By.CSS_SELECTOR,
                                     "#acltable tbody tr")}


def tom_lists(stack):
    """Tom's LIST, in a session of his own."""
    m = stack.imap(TOM)
    try:
        return set(listed(m))
    finally:
        m.logout()


def tom_opens(stack, mailbox):
    """Whether EXAMINE of mailbox succeeds for Tom."""
    m = stack.imap(TOM)
    try:
        return m.select('"%s"' % mailbox, readonly=True)[0] == "OK"
    finally:
        m.logout()


def wait_tom(stack, browser, present, what, since):
    """Poll Tom's LIST until it shows (or not) Peter's mailbox; the
    seconds since the dialog's Save or Delete go to timings.txt."""
    try:
        daemonutil.wait_for(lambda: (SHARED in tom_lists(stack)) == present,
                            timeout=SETTLE, interval=0.25, what=what)
    except TimeoutError as e:
        raise AssertionError(browser.failed(str(e)))
    with open(os.path.join(browser.artifacts, "timings.txt"), "a") as f:
        f.write("%s: %.1f s after the click\n" % (
            what, time.monotonic() - since))


def tom_shares(stack):
    """The shares of Peter's mailbox naming Tom in LDAP: {dn: rights}."""
    return {dn: attrs.get("mailgrantsrights") for dn, attrs in
            stack.shares().items()
            if dn.endswith("," + PETER_DN.lower()) and
            TOM_DN.lower() in [g.lower() for g in
                               attrs.get("mailgrantsgrantee", [])]}


@pytest.fixture
def browser(build_dir, repo_dir, artifacts):
    missing = missing_tools()
    if missing:
        pytest.fail("missing %s: run tests/deps.sh --roundcube (make "
                    "check-roundcube does)" % " ".join(missing))
    with running_stack(build_dir, repo_dir, "mg-roundcube-") as stack:
        rc = Roundcube(stack.workdir, stack.dc.imap_port, readme_settings())
        try:
            driver = chromium(os.path.join(stack.workdir, "roundcube"))
            try:
                yield Browser(driver, artifacts, rc, stack)
            finally:
                quit_chromium(driver)
        finally:
            rc.stop()
            for name in ("access.log", "error.log"):
                src = os.path.join(rc.d, name)
                if os.path.exists(src):
                    with open(src) as f, open(os.path.join(
                            artifacts, "apache-" + name), "w") as g:
                        g.write(f.read())


def test_peter_shares_his_inbox_with_tom_in_roundcube(browser):
    b, stack, By = browser, browser.stack, browser.By
    assert SHARED not in tom_lists(stack)
    assert not tom_opens(stack, SHARED_INBOX)
    # the example has a share of 2024 for Tom, ended long ago
    before = tom_shares(stack)

    # log in as Peter
    b.d.get(b.roundcube.url)
    b.visible("#rcmloginuser", "the login form").send_keys(PETER)
    b.visible("#rcmloginpwd", "the password field").send_keys(
        example.PASSWORDS[PETER])
    b.click("#rcmloginsubmit", "the login button")
    b.visible("#messagelist", "Peter's message list after login")

    # Settings, Folders, Inbox: the folder's form in the settings frame
    b.click("#taskmenu a.settings", "Settings")
    b.click("#settings-menu li.folders a", "Settings > Folders")
    b.by_text("#subscription-table li a", "Inbox",
              "the Inbox in the folder list").click()
    b.in_settings_frame()
    b.sharing()
    # the story's shares (Jana, Sandra), not Tom; the owner is not shown
    others = set(b.until(lambda d: b.acl_rows(), "the story's shares"))
    assert others == {JANA, SANDRA}, others

    # Add: Roundcube opens the form as a dialog of the top document
    b.click("#acllist-footer a.create", "the Sharing tab's Add button")
    b.d.switch_to.default_content()
    user = b.visible(".ui-dialog #acluser", "the add-user dialog")
    user.send_keys(TOM)
    # the switches' inputs are hidden behind their labels; "Read" (lrs)
    # is on by default, the others off
    boxes = {e.get_attribute("value"): e.is_selected() for e in
             b.d.find_elements(By.CSS_SELECTOR,
                               ".ui-dialog #simplerights input")}
    assert boxes == {"lrs": True, "wi": False, "te": False,
                     "xkpa": False}, boxes
    # acl_specials = []: no "anyone"/"anonymous" to choose
    assert not b.d.find_elements(By.CSS_SELECTOR,
                                 ".ui-dialog input[name=usertype]")
    b.shot("sharing-dialog-add-tom")
    b.click(".ui-dialog .ui-dialog-buttonpane button.mainaction",
            "the dialog's Save button")
    saved = time.monotonic()

    # the dialog's table shows Tom, read rights only
    b.in_settings_frame()
    rows = b.until(lambda d: TOM in b.acl_rows() and b.acl_rows(),
                   "Tom's row in the sharing table")
    assert set(rows) == others | {TOM}, list(rows)
    row = rows[TOM]
    assert TOM in row.text, row.text
    enabled = [c.get_attribute("class").split()[0]
               for c in row.find_elements(By.CSS_SELECTOR, "td.enabled")]
    assert enabled == ["aclread"], enabled
    b.d.switch_to.default_content()
    assert not b.errors(), b.errors()
    b.in_settings_frame()
    b.shot("sharing-tab-with-tom")

    # LDAP has the share, Tom's LIST has Peter's INBOX
    new = {dn: r for dn, r in tom_shares(stack).items() if dn not in before}
    assert list(new.values()) == [["lrs"]], new
    wait_tom(stack, b, True, "Tom's LIST shows %s" % SHARED, saved)
    assert tom_opens(stack, SHARED_INBOX)
    # what Roundcube reads back after a reload: GETACL (the directory's
    # shares, through the share service)
    b.d.switch_to.default_content()
    b.d.refresh()
    b.by_text("#subscription-table li a", "Inbox",
              "the Inbox after a reload").click()
    b.in_settings_frame()
    b.sharing()
    rows = b.until(lambda d: TOM in b.acl_rows() and b.acl_rows(),
                   "Tom's row after a reload")
    assert set(rows) == others | {TOM}, list(rows)

    # "Other" holds "a" (xkpa): refused, the share keeps its rights
    rows[TOM].find_element(By.CSS_SELECTOR, "td.user").click()
    b.click("#acllist-footer a.actions", "the Sharing tab's Actions")
    b.click("#acl-menu a.edit.active", "Actions > Edit")
    b.d.switch_to.default_content()
    b.click(".ui-dialog label[for=aclother]", "the Other switch")
    b.click(".ui-dialog .ui-dialog-buttonpane button.mainaction",
            "the edit dialog's Save button")
    said = b.until(lambda d: b.errors(), "Roundcube's error message")
    b.shot("sharing-other-refused")
    b.click(".ui-dialog .ui-dialog-buttonpane button.cancel",
            "the edit dialog's Cancel button")
    assert tom_shares(stack) == dict(before, **new), (said,
                                                      tom_shares(stack))

    # Peter removes Tom: select his row, Actions > Delete, confirm
    b.in_settings_frame()
    rows = b.acl_rows()
    rows[TOM].find_element(By.CSS_SELECTOR, "td.user").click()
    b.click("#acllist-footer a.actions", "the Sharing tab's Actions")
    # the menu pops up in the frame, the confirmation in the top document
    b.click("#acl-menu a.delete.active", "Actions > Delete")
    b.d.switch_to.default_content()
    b.click(".ui-dialog .ui-dialog-buttonpane button.mainaction",
            "the confirmation's Delete button")
    deleted = time.monotonic()
    b.in_settings_frame()
    b.until(lambda d: TOM not in b.acl_rows(),
            "Tom's row gone from the sharing table")
    assert set(b.acl_rows()) == others, list(b.acl_rows())
    b.shot("sharing-tab-without-tom")
    # DELETEACL takes Tom off every share, whatever its window
    assert not tom_shares(stack), tom_shares(stack)
    wait_tom(stack, b, False, "Tom's LIST without %s" % SHARED, deleted)
    assert not tom_opens(stack, SHARED_INBOX)
    # the service logged both changes, with Peter's login
    log = stack.service_text()
    assert "login=%s op=set" % PETER in log, log
    assert "login=%s op=delete" % PETER in log, log
