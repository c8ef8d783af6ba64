package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/pflag"
)

// roffEscape escapes text for roff: backslashes, leading dots and
// apostrophes, and hyphens in option names.
func roffEscape(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	s = strings.ReplaceAll(s, "-", `\-`)
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	return s
}

// writeMan writes the peercloud(1) man page in roff, its OPTIONS generated
// from the main flag set.
func writeMan(w io.Writer) error {
	fs := newMainFlagSet(&invocation{})
	var b strings.Builder
	fmt.Fprintf(&b, `.TH PEERCLOUD 1 "" "peercloud %s" "User Commands"
.SH NAME
peercloud \- peer\-to\-peer mesh VPN daemon, compatible with VpnCloud 2.3
.SH SYNOPSIS
.B peercloud
[\fIoptions\fR] [\fB\-\-config\fR \fIfile\fR]
.br
.B peercloud genkey
[\fB\-p\fR \fIpassword\fR]
.br
.B peercloud completion
\fBbash\fR|\fBzsh\fR|\fBfish\fR
.br
.B peercloud man
.SH DESCRIPTION
peercloud connects the nodes of a virtual network over UDP in a full mesh.
It reads VpnCloud's configuration files and command-line options and talks
VpnCloud 2.3's protocol. Options given on the command line override the
configuration file.
.SH OPTIONS
`, roffEscape(version))
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Hidden {
			return
		}
		name, usage := pflag.UnquoteUsage(f)
		b.WriteString(".TP\n")
		if f.Shorthand != "" {
			fmt.Fprintf(&b, `\fB\-%s\fR, `, roffEscape(f.Shorthand))
		}
		fmt.Fprintf(&b, `\fB\-\-%s\fR`, roffEscape(f.Name))
		if f.Value.Type() != "bool" {
			fmt.Fprintf(&b, ` \fI%s\fR`, roffEscape(name))
		}
		b.WriteString("\n" + roffEscape(usage))
		if f.Value.Type() != "bool" && f.DefValue != "" {
			b.WriteString(" (default: " + roffEscape(f.DefValue) + ")")
		}
		b.WriteString("\n")
	})
	b.WriteString(`.SH COMMANDS
.TP
\fBgenkey\fR [\fB\-p\fR \fIpassword\fR]
Print a new key pair (derived from the password when one is given).
.TP
\fBcompletion\fR \fIshell\fR
Print the completion script for bash, zsh or fish.
.TP
\fBman\fR
Print this manual page.
.SH SIGNALS
.TP
\fBSIGINT\fR, \fBSIGTERM\fR
Tell all peers the node is leaving, run the ifdown command and exit.
.TP
\fBSIGHUP\fR
Re\-read the configuration file (with the original options) and apply what
can change at run time: trusted keys, peers, claims, hooks and the log level.
A file with errors is refused and the running configuration kept.
.SH ENVIRONMENT
.TP
\fBPASSWORD\fR, \fBPRIVATE_KEY\fR
Used when \fB\-\-password\fR or \fB\-\-private\-key\fR are not given.
.TP
\fBNOTIFY_SOCKET\fR, \fBWATCHDOG_USEC\fR
Set by systemd for Type=notify services: readiness, status and watchdog.
.TP
\fBPEERCLOUD_KEYLOG\fR
A file to append every session key to (created with mode 0600), for
debugging only: anyone who can read it can decrypt the traffic.
.SH FILES
.TP
\fI/etc/peercloud/NAME.net\fR
Configuration of the network NAME for \fBpeercloud@NAME.service\fR.
.SH SEE ALSO
\fBvpncloud\fR(1), \fBsystemd.service\fR(5)
`)
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("man: write: %w", err)
	}
	return nil
}
