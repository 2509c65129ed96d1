# thunderbird.mk - the story in a real mail client: "make check-thunderbird".
#
#   make check-thunderbird   installs the GUI test dependencies
#                            (tests/deps-gui.sh: Debian's thunderbird,
#                            Xvfb, matchbox-window-manager, xdotool,
#                            ImageMagick), builds, and runs tests/gui:
#                            Thunderbird under Xvfb with a fresh profile,
#                            logged in as Sandra on a private Dovecot with
#                            the plugin; screenshots and IMAP logs under
#                            $(B)/test-artifacts/thunderbird/
#
# Not part of "make check", which needs no GUI: about 1.5 minutes here
# (2 cores), most of it waiting for each first sync to settle.

.PHONY: check-thunderbird

check-thunderbird: deps
	@sh tests/deps-gui.sh
	$(MAKE) all
	MAILGRANTS_BUILD=$(CURDIR)/$(B) $(PYTHON) -m pytest -q tests/gui
