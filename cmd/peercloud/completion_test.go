package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestCompletionScriptsListEveryFlag(t *testing.T) {
	flags := flagList(newMainFlagSet(&invocation{}))
	if len(flags) < 30 {
		t.Fatalf("only %d flags listed", len(flags))
	}
	for _, shell := range completionShells {
		code, out, errOut := runCLI(t, nil, "completion", shell)
		if code != exitOK || errOut != "" {
			t.Fatalf("%s: exit %d, stderr %q", shell, code, errOut)
		}
		for _, f := range flags {
			want := "--" + f.long
			if shell == "fish" {
				want = "-l " + f.long
			}
			if !strings.Contains(out, want) {
				t.Errorf("%s completion lacks %s", shell, want)
			}
		}
		for _, hidden := range []string{"--trust", "--connect", "--algo "} {
			if strings.Contains(out, hidden+" ") && shell != "fish" {
				t.Errorf("%s completion lists the hidden alias %s", shell, hidden)
			}
		}
		if !strings.Contains(out, "chacha20") || !strings.Contains(out, "genkey") {
			t.Errorf("%s completion lacks values or subcommands", shell)
		}
	}
}

func TestCompletionScriptsParse(t *testing.T) {
	for _, sh := range []struct{ shell, bin string }{{"bash", "bash"}, {"zsh", "zsh"}, {"fish", "fish"}} {
		bin, err := exec.LookPath(sh.bin)
		if err != nil {
			t.Logf("%s not installed: its syntax check is left out", sh.bin)
			continue
		}
		var buf bytes.Buffer
		if err := writeCompletion(&buf, sh.shell); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(t.TempDir(), "peercloud."+sh.shell)
		if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		args := []string{"-n", p}
		if sh.bin == "fish" {
			args = []string{"--no-execute", p}
		}
		if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
			t.Errorf("%s rejects the script: %v\n%s", sh.bin, err, out)
		}
	}
}

// TestBashCompletionCompletes loads the script into bash and asks it.
func TestBashCompletionCompletes(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Fatal("bash is needed for this test")
	}
	var buf bytes.Buffer
	if err := writeCompletion(&buf, "bash"); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "c.bash")
	os.WriteFile(p, buf.Bytes(), 0o644)
	for _, tc := range []struct {
		words, want, notWant string
	}{
		{"peercloud --fix", "--fix-rp-filter", ""},
		{"peercloud --mode s", "switch", "normal"},
		{"peercloud -t t", "tun tap", ""},
		{"peercloud completion z", "zsh", ""},
		{"peercloud gen", "genkey", ""},
	} {
		script := "source " + p + "\nCOMP_WORDS=(" + tc.words + ")\nCOMP_CWORD=$((${#COMP_WORDS[@]}-1))\n_peercloud\necho \"${COMPREPLY[*]}\"\n"
		out, err := exec.Command(bash, "-c", script).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", tc.words, err, out)
		}
		got := strings.TrimSpace(string(out))
		if !strings.Contains(got, tc.want) || (tc.notWant != "" && strings.Contains(got, tc.notWant)) {
			t.Errorf("completing %q: %q, want %q", tc.words, got, tc.want)
		}
	}
}

func TestCompletionUsage(t *testing.T) {
	for _, args := range [][]string{{"completion"}, {"completion", "tcsh"}, {"completion", "bash", "zsh"}} {
		if code, _, errOut := runCLI(t, nil, args...); code != exitUsage || errOut == "" {
			t.Errorf("%v: exit %d, stderr %q", args, code, errOut)
		}
	}
	if code, out, _ := runCLI(t, nil, "completion", "--help"); code != exitOK || !strings.Contains(out, "bash|zsh|fish") {
		t.Errorf("completion --help: %d %q", code, out)
	}
}

func TestManPageHasEveryFlag(t *testing.T) {
	code, out, errOut := runCLI(t, nil, "man")
	if code != exitOK || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	if !strings.HasPrefix(out, ".TH PEERCLOUD 1 ") {
		t.Fatalf("not a man page: %q", out[:min(len(out), 80)])
	}
	for _, f := range flagList(newMainFlagSet(&invocation{})) {
		want := `\fB\-\-` + strings.ReplaceAll(f.long, "-", `\-`) + `\fR`
		if !strings.Contains(out, want) {
			t.Errorf("man page lacks %s", want)
		}
		if f.short != "" && !strings.Contains(out, `\fB\-`+f.short+`\fR, `+want) {
			t.Errorf("man page lacks -%s for --%s", f.short, f.long)
		}
	}
	for _, section := range []string{".SH SYNOPSIS", ".SH OPTIONS", ".SH SIGNALS", "SIGHUP", "PEERCLOUD_KEYLOG"} {
		if !strings.Contains(out, section) {
			t.Errorf("man page lacks %s", section)
		}
	}
	if code, _, _ := runCLI(t, nil, "man", "extra"); code != exitUsage {
		t.Errorf("man with an argument: exit %d", code)
	}
	// groff, when present, must render it without warnings.
	if groff, err := exec.LookPath("groff"); err == nil {
		cmd := exec.Command(groff, "-man", "-Tutf8", "-ww", "-z")
		cmd.Stdin = strings.NewReader(out)
		if msg, err := cmd.CombinedOutput(); err != nil || len(msg) > 0 {
			t.Errorf("groff: %v %s", err, msg)
		}
	}
}

func TestRoffEscape(t *testing.T) {
	for in, want := range map[string]string{
		"a-b":     `a\-b`,
		`x\y`:     `x\ey`,
		".dot":    `\&.dot`,
		"'quote":  `\&'quote`,
		"%d name": "%d name",
	} {
		if got := roffEscape(in); got != want {
			t.Errorf("roffEscape(%q) = %q, want %q", in, got, want)
		}
	}
}
