package status

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"go.uber.org/zap"
)

// maxRequest bounds a request line; ioTimeout bounds one exchange.
const (
	maxRequest = 4096
	ioTimeout  = 5 * time.Second
)

// Request is what a client sends, one JSON line.
type Request struct {
	Command string `json:"command"` // "status"
}

// Response is what the daemon answers, one JSON document.
type Response struct {
	Status *Report `json:"status,omitempty"`
	Error  string  `json:"error,omitempty"`
}

// Provider builds the report; it is called on the server's goroutine with
// a context bounded by the exchange's timeout.
type Provider func(ctx context.Context) (*Report, error)

// Server answers status requests on a unix socket.
//
// Concurrency: Listen returns a Server already accepting; connections are
// served one at a time on its goroutine. Close stops it, waits for that
// goroutine and removes the socket file; it is idempotent.
type Server struct {
	path    string
	ln      *net.UnixListener
	provide Provider
	log     *zap.Logger
	wg      sync.WaitGroup
	once    sync.Once
	ctx     context.Context
	cancel  context.CancelFunc
}

// Listen creates the socket at path (and its directory, 0755), mode 0660,
// owned by group gid when gid >= 0, and starts serving. A stale socket
// file is replaced; one a running daemon answers on is not (ErrInUse).
func Listen(path string, gid int, provide Provider, log *zap.Logger) (*Server, error) {
	if log == nil {
		log = zap.NewNop()
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("status: control socket directory: %w", err)
	}
	if _, err := os.Lstat(path); err == nil {
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("status: %s: %w", path, ErrInUse)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("status: removing stale %s: %w", path, err)
		}
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("status: listening on %s: %w", path, err)
	}
	ln.SetUnlinkOnClose(true)
	if err := os.Chmod(path, 0o660); err != nil {
		ln.Close()
		return nil, fmt.Errorf("status: chmod %s: %w", path, err)
	}
	if gid >= 0 {
		if err := os.Chown(path, -1, gid); err != nil {
			ln.Close()
			return nil, fmt.Errorf("status: chown %s: %w", path, err)
		}
	}
	s := &Server{path: path, ln: ln, provide: provide, log: log}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.wg.Add(1)
	go s.acceptLoop()
	return s, nil
}

// Path is the socket's path.
func (s *Server) Path() string { return s.path }

// Close stops serving and removes the socket file.
func (s *Server) Close() error {
	var err error
	s.once.Do(func() {
		s.cancel()
		err = s.ln.Close()
		s.wg.Wait()
	})
	if err != nil {
		return fmt.Errorf("status: closing %s: %w", s.path, err)
	}
	return nil
}

func (s *Server) acceptLoop() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				s.log.Warn("control socket accept", zap.Error(err))
			}
			return
		}
		s.serve(c)
	}
}

// serve answers one request on c.
func (s *Server) serve(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(ioTimeout))
	var resp Response
	line, err := bufio.NewReaderSize(c, maxRequest).ReadSlice('\n')
	var req Request
	switch {
	case err != nil:
		resp.Error = fmt.Sprintf("%v: reading the request: %v", ErrBadRequest, err)
	case json.Unmarshal(line, &req) != nil:
		resp.Error = fmt.Sprintf("%v: not a JSON request", ErrBadRequest)
	case req.Command != "status":
		resp.Error = fmt.Sprintf("%v: unknown command %q", ErrBadRequest, req.Command)
	default:
		ctx, cancel := context.WithTimeout(s.ctx, ioTimeout)
		resp.Status, err = s.provide(ctx)
		cancel()
		if err != nil {
			resp.Status, resp.Error = nil, err.Error()
		}
	}
	if err := json.NewEncoder(c).Encode(&resp); err != nil {
		s.log.Debug("control socket write", zap.Error(err))
	}
}

// Query asks the daemon at path for its status.
func Query(ctx context.Context, path string) (*Report, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, fmt.Errorf("status: connecting to %s: %w", path, err)
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	} else {
		c.SetDeadline(time.Now().Add(ioTimeout))
	}
	if _, err := c.Write([]byte("{\"command\":\"status\"}\n")); err != nil {
		return nil, fmt.Errorf("status: sending to %s: %w", path, err)
	}
	var resp Response
	if err := json.NewDecoder(c).Decode(&resp); err != nil {
		return nil, fmt.Errorf("status: reading from %s: %w", path, err)
	}
	if resp.Error != "" {
		return nil, fmt.Errorf("%w: %s", ErrDaemon, resp.Error)
	}
	if resp.Status == nil {
		return nil, fmt.Errorf("%w: empty answer", ErrDaemon)
	}
	return resp.Status, nil
}
