# install.mk: make install / uninstall / deb / rpm. The top Makefile includes it
# (it provides VERSION and the build/dropcap target).
#
#   sudo make install                  binary, dropcap-setcap, units, man page, capability applied
#   make install DESTDIR=/tmp/stage    staging for packagers: the capability is NOT applied
#   sudo make uninstall                removes them again (leaves /etc/dropcap)
#   make deb                           build/dropcap_$(VERSION)_ARCH.deb   (dpkg-deb)
#   make rpm                           build/dropcap-$(VERSION)-1.ARCH.rpm (rpmbuild, Debian's rpm)

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
SBINDIR ?= $(PREFIX)/sbin
MANDIR ?= $(PREFIX)/share/man
# systemd reads units from /usr/local/lib/systemd/system too.
UNITDIR ?= $(PREFIX)/lib/systemd/system
CONFDIR ?= /etc/dropcap
DESTDIR ?=

UNITS := dropcap.service dropcap.socket dropcap-activated.service

install: $(B)/dropcap
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" -ne 0 ]; then \
		echo "make install: needs root to own the binary and set its capability:" \
			"sudo make install (or set DESTDIR to stage a package)" >&2; exit 1; fi
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man8 \
		$(DESTDIR)$(UNITDIR) $(DESTDIR)$(CONFDIR)
	install -m 0755 install/dropcap-setcap $(DESTDIR)$(SBINDIR)/dropcap-setcap
	install -m 0644 install/dropcap.8 $(DESTDIR)$(MANDIR)/man8/dropcap.8
	echo '.so man8/dropcap.8' >$(DESTDIR)$(MANDIR)/man8/dropcap-setcap.8
	for u in $(UNITS); do \
		sed 's|/usr/local/bin/dropcap|$(BINDIR)/dropcap|g' install/systemd/$$u \
			>$(DESTDIR)$(UNITDIR)/$$u && chmod 0644 $(DESTDIR)$(UNITDIR)/$$u || exit 1; \
	done
	[ -e $(DESTDIR)$(CONFDIR)/dropcap.env ] || \
		install -m 0644 install/systemd/dropcap.env $(DESTDIR)$(CONFDIR)/dropcap.env
ifeq ($(DESTDIR),)
	$(SBINDIR)/dropcap-setcap --install $(B)/dropcap $(BINDIR)/dropcap
	@echo "installed $(BINDIR)/dropcap with cap_net_bind_service,cap_setpcap=p." \
		"After every copy or upgrade of the binary run: sudo dropcap-setcap $(BINDIR)/dropcap"
else
	install -m 0755 $(B)/dropcap $(DESTDIR)$(BINDIR)/dropcap
	@echo "note: DESTDIR is set, so $(BINDIR)/dropcap was staged WITHOUT its file capability" \
		"(a package cannot rely on it surviving). The package must apply it after install:" \
		"dropcap-setcap $(BINDIR)/dropcap in a .deb postinst, or" \
		"%caps(cap_net_bind_service,cap_setpcap=p) in an RPM spec."
endif

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/dropcap $(DESTDIR)$(SBINDIR)/dropcap-setcap \
		$(DESTDIR)$(MANDIR)/man8/dropcap.8 $(DESTDIR)$(MANDIR)/man8/dropcap-setcap.8
	for u in $(UNITS); do rm -f $(DESTDIR)$(UNITDIR)/$$u; done
	@echo "left $(DESTDIR)$(CONFDIR) in place (configuration, certificate, key)"

# The .deb follows Debian policy: it links Debian's shared libev, mbedTLS and libcap, so their
# security updates reach dropcap, and dpkg-shlibdeps writes Depends. The .rpm carries build/dropcap
# (by default the portable build, which needs only glibc; see README "One portable file").
deb: build/shared/dropcap
	sh install/debian/build-deb build/shared/dropcap $(VERSION) build

rpm: build/dropcap
	sh install/rpm/build-rpm build/dropcap $(VERSION) build

.PHONY: install uninstall deb rpm
