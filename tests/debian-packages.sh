#!/bin/sh
# The Debian packages the tests run against: real servers on loopback, not mocks.
#   slapd, ldap-utils   OpenLDAP for the ldap connector and benchmark 1
#   samba-ad-dc         a real Active Directory DC (plain `samba` lacks winbind and the DC dies at start)
#   openssh-client      ssh-keygen signs and verifies plan approvals and evidence
#   openssl             `openssl ts`, the local timestamp authority of the evidence tests
#   chromium            renders the closure report to PDF and checks its layout at A4
# As root on Debian it installs them; anywhere else it says which are missing, and the tests that need them skip
# (outside CI) or fail (with CI=true).
PACKAGES="slapd ldap-utils samba-ad-dc openssh-client openssl chromium"
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq $PACKAGES >/dev/null || exit 1
    # the tests start their own servers on free loopback ports; a service the packages' install scripts started
    # would hold 389/636, which the Samba AD DC fixture needs
    for svc in slapd samba-ad-dc smbd nmbd winbind; do service "$svc" stop >/dev/null 2>&1 || true; done
else
    for tool in slapd ldapsearch samba ssh-keygen openssl chromium; do
        command -v "$tool" >/dev/null 2>&1 || PATH="$PATH:/usr/sbin" command -v "$tool" >/dev/null 2>&1 \
            || echo "not installed: $tool (Debian packages: $PACKAGES)" >&2
    done
fi
exit 0
