package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/chatgate/chatgate/client"
	"github.com/chatgate/chatgate/protocol"
)

type clientOpts struct {
	url      string
	app      string
	token    string
	device   int
	platform int
	toUser   int64
	toGroup  int64
	send     string
	msgType  string
	timeout  time.Duration
	api      string
	// deviceSet: -device was given (else -send uses sendDevice).
	deviceSet bool
}

// sendDevice is the device_sn of `client -send` unless -device says
// otherwise: not 1, which the interactive client of the same user most
// likely uses and which a second connection would replace (kick 4101).
const sendDevice = 1<<31 - 1

func clientFlags(w io.Writer) (*flag.FlagSet, *clientOpts) {
	o := &clientOpts{}
	fs := newFlagSet("client", "-token T [-url ws://127.0.0.1:8080/ws] [-app demo] [-device 1] [-to-user N | -to-group G] [-send text]", w)
	fs.StringVar(&o.url, "url", "ws://127.0.0.1:8080/ws", "gateway WebSocket URL; several, comma-separated, are tried in turn on reconnect")
	fs.StringVar(&o.app, "app", "demo", "app id")
	fs.StringVar(&o.token, "token", "", "user access token (default $CHATGATE_TOKEN)")
	fs.IntVar(&o.device, "device", 1, "device_sn of this client: each device of a user needs its own (with -send the default is 2147483647, so that a running client on device 1 is not replaced)")
	fs.IntVar(&o.platform, "platform", protocol.PlatformLinux, "platform: 1 ios, 2 android, 3 windows, 4 mac, 5 linux, 6 web")
	fs.Int64Var(&o.toUser, "to-user", 0, "send typed lines to this user")
	fs.Int64Var(&o.toGroup, "to-group", 0, "send typed lines to this group")
	fs.StringVar(&o.send, "send", "", "send this one message to the target, print the ack and exit")
	fs.StringVar(&o.msgType, "type", "text", "message type of what is sent")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Second, "how long to wait for a send's ack (with -send: also for the connection)")
	fs.StringVar(&o.api, "api", "http://127.0.0.1:8081", "server REST API URL, for /file uploads, /create-group and /invite")
	return fs, o
}

// target is where typed lines go.
type target struct {
	user, group int64
}

func (t target) String() string {
	switch {
	case t.user != 0:
		return "user " + strconv.FormatInt(t.user, 10)
	case t.group != 0:
		return "group " + strconv.FormatInt(t.group, 10)
	}
	return "nobody"
}

func (t target) set() bool { return t.user != 0 || t.group != 0 }

func runClient(ctx context.Context, args []string, std stdio) error {
	fs, o := clientFlags(std.stderr)
	if err := parse(fs, args); err != nil {
		return err
	}
	fs.Visit(func(f *flag.Flag) { o.deviceSet = o.deviceSet || f.Name == "device" })
	if o.token == "" {
		o.token = std.getenv("CHATGATE_TOKEN")
	}
	if o.send != "" && !o.deviceSet {
		o.device = sendDevice
	}
	to := target{user: o.toUser, group: o.toGroup}
	switch {
	case o.token == "":
		fmt.Fprintln(std.stderr, "-token is required (chatgate serve prints tokens in embedded mode; chatgate token mints them)")
		fs.Usage()
		return errUsage
	case o.toUser != 0 && o.toGroup != 0:
		fmt.Fprintln(std.stderr, "give at most one of -to-user and -to-group")
		return errUsage
	case o.toUser < 0 || o.toGroup < 0:
		fmt.Fprintln(std.stderr, "-to-user and -to-group must be positive")
		return errUsage
	case o.device <= 0 || o.device > 1<<31-1:
		fmt.Fprintln(std.stderr, "-device must be a positive int32")
		return errUsage
	case o.send != "" && !to.set():
		fmt.Fprintln(std.stderr, "-send needs -to-user or -to-group")
		return errUsage
	}
	var urls []string
	for _, u := range strings.Split(o.url, ",") {
		if u = strings.TrimSpace(u); u != "" {
			urls = append(urls, u)
		}
	}
	if len(urls) == 0 {
		fmt.Fprintln(std.stderr, "-url is required")
		return errUsage
	}
	cfg := client.Config{
		URL: urls[0], AppID: o.app, Token: o.token, DeviceSN: int32(o.device), Platform: o.platform,
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if o.send != "" {
		return sendOnce(ctx, cfg, to, o, std)
	}
	api := &client.API{Base: o.api, AppID: o.app, Token: o.token, HTTP: &http.Client{Timeout: 15 * time.Second}}
	return interactive(ctx, client.SessionConfig{Config: cfg, URLs: urls}, to, o.msgType, api, o.timeout, std)
}

// sendOnce is the scripting mode: one connection, one message, the ack.
func sendOnce(ctx context.Context, cfg client.Config, to target, o *clientOpts, std stdio) error {
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	conn, err := client.Dial(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close()
	ack, err := conn.Send(ctx, client.Outgoing{ToUser: to.user, ToGroup: to.group, Type: o.msgType, Content: o.send})
	if err != nil {
		return fmt.Errorf("send: %w", err)
	}
	fmt.Fprintf(std.stdout, "sent id=%s cmid=%s ts=%d\n", ack.ID, ack.CMID, ack.TS)
	return nil
}

// printer serialises the lines of the goroutines that print.
type printer struct {
	mu sync.Mutex
	w  io.Writer
}

func (p *printer) printf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, format, args...)
}

// interactive runs a Session: it syncs what this device missed, prints
// every message, sends every typed line and reconnects on its own.
//
// Typed lines are sent in order by one sender goroutine, each waiting at
// most timeout for its ack, so that the input stays live while the server
// is down: EOF (Ctrl-D) ends the client at once, saying how many lines were
// not acknowledged. Status lines that follow messages ("ready", "caught
// up") are printed by the goroutine that prints messages, after the
// messages already received, so a synced message never shows after them.
func interactive(ctx context.Context, cfg client.SessionConfig, to target, msgType string, api *client.API, timeout time.Duration, std stdio) error {
	out := &printer{w: std.stdout}
	info := &printer{w: std.stderr}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	notes := make(chan string, 16)
	var sess *client.Session
	started := make(chan struct{}) // sess is set
	var connects atomic.Int64
	cfg.OnConnect = func(h *protocol.Hello) {
		info.printf("* connected to %s as user %d, device %d; catching up\n", h.Node, h.UserID, h.DeviceSN)
		if connects.Add(1) > 1 {
			go func() {
				<-started
				if sess.Ready(ctx) == nil {
					notes <- "* caught up\n"
				}
			}()
		}
	}
	cfg.OnDisconnect = func(err error) {
		if kick := (*client.KickError)(nil); errors.As(err, &kick) && kick.Final() {
			info.printf("* disconnected: %s\n", kickText(kick))
			return
		}
		info.printf("* disconnected (%v); reconnecting\n", err)
	}
	sess, err := client.StartSession(ctx, cfg)
	if err != nil {
		return err
	}
	close(started)
	defer sess.Close()

	recvDone := make(chan struct{})
	go func() {
		defer close(recvDone)
		msgs := sess.Messages()
		for {
			select {
			case m, ok := <-msgs:
				if !ok {
					return
				}
				out.printf("%s\n", formatMessage(m.Message))
			case note := <-notes:
				// Messages the session queued before the note first.
				for n := len(msgs); n > 0; n-- {
					if m, ok := <-msgs; ok {
						out.printf("%s\n", formatMessage(m.Message))
					}
				}
				info.printf("%s", note)
			}
		}
	}()

	if err := sess.Ready(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return endError(err)
	}
	notes <- fmt.Sprintf("* ready; sending to %s. Type a message and press Enter; /help for commands.\n", to)

	// Reading stdin blocks in a way no context can interrupt; the reader
	// ends at EOF, and otherwise with the process.
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(std.stdin)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-recvDone:
				return
			}
		}
	}()

	// One sender, so that lines are sent in the order they were typed.
	type outgoing struct {
		to   target
		text string
	}
	sendq := make(chan outgoing, 1024)
	var unacked atomic.Int64
	go func() {
		for o := range sendq {
			sctx, scancel := context.WithTimeout(ctx, timeout)
			out := client.Outgoing{ToUser: o.to.user, ToGroup: o.to.group, Type: msgType, Content: o.text}
			if o.to.group != 0 {
				out.Mentions = mentionsIn(o.text)
			}
			ack, err := sess.Send(sctx, out)
			scancel()
			unacked.Add(-1)
			switch {
			case ctx.Err() != nil:
				return
			case err != nil:
				info.printf("* not sent (%q): %v\n", clipText(o.text), err)
			default:
				info.printf("* sent to %s (id %s)\n", o.to, ack.ID)
			}
		}
	}()
	defer close(sendq)

	for {
		select {
		case <-ctx.Done():
			return nil
		case <-sess.Done():
			<-recvDone
			if err := sess.Err(); !errors.Is(err, client.ErrClosed) {
				return endError(err)
			}
			return nil
		case line, ok := <-lines:
			if !ok {
				// EOF: leave now, even with sends in flight.
				if n := unacked.Load(); n > 0 {
					info.printf("* leaving; %d message(s) not acknowledged (resend them if they do not show up)\n", n)
				}
				return nil
			}
			line = strings.TrimSpace(line)
			if line == "" {
				continue
			}
			if path, ok := strings.CutPrefix(line, "/file "); ok {
				sendFile(ctx, sess, api, to, strings.TrimSpace(path), info)
				continue
			}
			if strings.HasPrefix(line, "/") {
				quit, err := slashCommand(ctx, line, &to, api, info)
				if err != nil {
					info.printf("* %v\n", err)
				}
				if quit {
					return nil
				}
				continue
			}
			if !to.set() {
				info.printf("* no target: start with -to-user N or -to-group G, or type /to-user N\n")
				continue
			}
			select {
			case sendq <- outgoing{to: to, text: line}:
				unacked.Add(1)
			default:
				info.printf("* not sent: too many messages waiting for the server\n")
			}
		}
	}
}

// kickText says in words why the server ended the session for good.
func kickText(k *client.KickError) string {
	what := map[protocol.Code]string{
		protocol.CodeKickReplaced: "another client connected as the same user and device (-device); this one was replaced",
		protocol.CodeKickAdmin:    "kicked by an administrator",
		protocol.CodeKickDisabled: "the user was disabled",
		protocol.CodeKickDeleted:  "the user was deleted",
	}[k.Code]
	if what == "" {
		what = "kicked by the server"
	}
	return fmt.Sprintf("%s (%d %s)", what, int(k.Code), k.Reason)
}

// endError is the error the client exits with when its session ended.
func endError(err error) error {
	var kick *client.KickError
	if errors.As(err, &kick) {
		return errors.New(kickText(kick))
	}
	return err
}

func clipText(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// slashCommand handles the slash commands of the interactive mode.
func slashCommand(ctx context.Context, line string, to *target, api *client.API, info *printer) (quit bool, err error) {
	fields := strings.Fields(line)
	switch fields[0] {
	case "/quit", "/exit":
		return true, nil
	case "/help":
		info.printf("* /to-user N              send to user N from now on\n" +
			"* /to-group G             send to group G from now on (@N or @all in a line mentions)\n" +
			"* /create-group NAME [N..] create a group with users N.. and send to it\n" +
			"* /invite N [N..]         invite users into the current group\n" +
			"* /file PATH              upload a file (through -api) and send it\n" +
			"* /quit                   leave (so does Ctrl-D)\n")
		return false, nil
	case "/to-user", "/to-group":
		if len(fields) != 2 {
			return false, fmt.Errorf("usage: %s N", fields[0])
		}
		n, err := parseIDs(fields[0], fields[1:])
		if err != nil {
			return false, err
		}
		if fields[0] == "/to-user" {
			*to = target{user: n[0]}
		} else {
			*to = target{group: n[0]}
		}
		info.printf("* sending to %s\n", to)
		return false, nil
	case "/create-group":
		if len(fields) < 2 {
			return false, fmt.Errorf("usage: /create-group NAME [user ...]")
		}
		members, err := parseIDs(fields[0], fields[2:])
		if err != nil {
			return false, err
		}
		gid, err := api.CreateGroup(ctx, fields[1], members)
		if err != nil {
			return false, fmt.Errorf("/create-group: %w", err)
		}
		*to = target{group: gid}
		info.printf("* created group %d; sending to it\n", gid)
		return false, nil
	case "/invite":
		if to.group == 0 {
			return false, fmt.Errorf("/invite: no current group; /to-group G or /create-group first")
		}
		if len(fields) < 2 {
			return false, fmt.Errorf("usage: /invite user [user ...]")
		}
		users, err := parseIDs(fields[0], fields[1:])
		if err != nil {
			return false, err
		}
		if err := api.Invite(ctx, to.group, users); err != nil {
			return false, fmt.Errorf("/invite: %w", err)
		}
		info.printf("* invited %v into group %d\n", users, to.group)
		return false, nil
	}
	return false, fmt.Errorf("unknown command %s; /help lists them", fields[0])
}

// parseIDs parses positive ids.
func parseIDs(cmd string, fields []string) ([]int64, error) {
	out := make([]int64, 0, len(fields))
	for _, f := range fields {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%s: %q is not a positive id", cmd, f)
		}
		out = append(out, n)
	}
	return out, nil
}

// mentionsIn finds the @mentions of a typed group line: "@all" and "@N".
func mentionsIn(line string) *protocol.Mentions {
	var m protocol.Mentions
	for _, w := range strings.Fields(line) {
		name, ok := strings.CutPrefix(w, "@")
		name = strings.TrimRight(name, ",.:;!?")
		switch {
		case !ok:
		case name == "all":
			m.All = true
		default:
			if n, err := strconv.ParseInt(name, 10, 64); err == nil && n > 0 && len(m.Users) < protocol.MaxMentions && !slices.Contains(m.Users, n) {
				m.Users = append(m.Users, n)
			}
		}
	}
	if !m.All && len(m.Users) == 0 {
		return nil
	}
	return &m
}

// formatMessage renders a received message as one line:
// "[conv] from <user>: <content>".
func formatMessage(m *protocol.Message) string {
	if m.Notice != nil {
		return fmt.Sprintf("[%s] * %s", m.Conv, formatNotice(m.Notice))
	}
	content := m.Content
	if m.Type != "" && m.Type != "text" {
		content = "(" + m.Type + ") " + content
	}
	if u := protocol.AttachmentURL(m.Attachment); u != "" {
		content = strings.TrimSpace(content + " " + u)
	}
	// One message, one line: a multi-line message must not look like
	// several.
	content = strings.ReplaceAll(content, "\n", `\n`)
	line := fmt.Sprintf("[%s] from %d: %s", m.Conv, m.From, content)
	if m.Mentions != nil {
		line += " (mentions " + formatMentions(m.Mentions) + ")"
	}
	return line
}

func formatMentions(m *protocol.Mentions) string {
	var parts []string
	if m.All {
		parts = append(parts, "everyone")
	}
	for _, u := range m.Users {
		parts = append(parts, "user "+strconv.FormatInt(u, 10))
	}
	return strings.Join(parts, ", ")
}

// formatNotice renders a notice (PROTOCOL.md section 7.2) as words:
// "user 7: group member kicked: users [42] (reason=spam)".
func formatNotice(n *protocol.Notice) string {
	var b strings.Builder
	if n.Actor != 0 {
		fmt.Fprintf(&b, "user %d: ", n.Actor)
	} else {
		b.WriteString("server: ")
	}
	b.WriteString(strings.ReplaceAll(n.Kind, "_", " "))
	if n.Group != 0 {
		fmt.Fprintf(&b, " (group %d)", n.Group)
	}
	if len(n.Users) > 0 {
		fmt.Fprintf(&b, ": users %v", n.Users)
	}
	if len(n.Data) > 0 {
		keys := make([]string, 0, len(n.Data))
		for k := range n.Data {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for i, k := range keys {
			keys[i] = k + "=" + strings.ReplaceAll(n.Data[k], "\n", `\n`)
		}
		b.WriteString(" (" + strings.Join(keys, ", ") + ")")
	}
	return b.String()
}

// sendFile uploads the file at path through the REST API and sends it as
// a file message; it reports what happened on info.
func sendFile(ctx context.Context, sess *client.Session, api *client.API, to target, path string, info *printer) {
	if !to.set() {
		info.printf("* no target: start with -to-user N or -to-group G, or type /to-user N\n")
		return
	}
	fm, err := client.UploadFile(ctx, api, to.user, to.group, path)
	if err != nil {
		info.printf("* not uploaded: %v\n", err)
		return
	}
	ack, err := sess.Send(ctx, fm.Outgoing(to.user, to.group))
	if err != nil {
		info.printf("* uploaded but not sent: %v\n", err)
		return
	}
	info.printf("* sent %s (%d bytes) to %s (id %s): %s\n", fm.Attachment.DName, fm.Attachment.FLen, to, ack.ID, fm.Attachment.URL)
}
