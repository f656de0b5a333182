// Package resp is a minimal Redis client (RESP2 over TCP or a unix socket) using only
// Go's standard library, enough for the runwayd examples: connect, AUTH, SELECT, and
// commands whose replies are strings, integers, nil or arrays of those.
// A real service would use a maintained client library; this one keeps the examples
// buildable without fetching modules.
package resp

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Error is an error reply from Redis ("WRONGTYPE ...", "NOAUTH ...").
type Error string

func (e Error) Error() string { return string(e) }

// Client is one connection; not safe for concurrent use.
type Client struct {
	conn net.Conn
	r    *bufio.Reader
	w    *bufio.Writer
}

// Dial connects to redis://[user:password@]host[:port][/db] or unix:///path[?db=N].
func Dial(rawURL string, timeout time.Duration) (*Client, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("redis url: %w", err)
	}
	var conn net.Conn
	db := ""
	switch u.Scheme {
	case "redis":
		host := u.Host
		if u.Port() == "" {
			host = net.JoinHostPort(u.Hostname(), "6379")
		}
		if conn, err = net.DialTimeout("tcp", host, timeout); err != nil {
			return nil, err
		}
		db = strings.TrimPrefix(u.Path, "/")
	case "unix":
		if conn, err = net.DialTimeout("unix", u.Path, timeout); err != nil {
			return nil, err
		}
		db = u.Query().Get("db")
	default:
		return nil, fmt.Errorf("redis url: expected redis:// or unix://, got %q", u.Scheme)
	}
	c := &Client{conn: conn, r: bufio.NewReader(conn), w: bufio.NewWriter(conn)}
	if pw, ok := u.User.Password(); ok || u.User.Username() != "" {
		args := []string{"AUTH", pw}
		if !ok { // redis://password@host: the user part is the password
			args = []string{"AUTH", u.User.Username()}
		} else if u.User.Username() != "" {
			args = []string{"AUTH", u.User.Username(), pw}
		}
		if _, err := c.Do(args...); err != nil {
			c.Close()
			return nil, fmt.Errorf("AUTH: %w", err)
		}
	}
	if db != "" && db != "0" {
		if _, err := c.Do("SELECT", db); err != nil {
			c.Close()
			return nil, fmt.Errorf("SELECT %s: %w", db, err)
		}
	}
	return c, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// Do sends one command and reads its reply: string, int64, nil, []any, or an Error.
func (c *Client) Do(args ...string) (any, error) {
	fmt.Fprintf(c.w, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(c.w, "$%d\r\n%s\r\n", len(a), a)
	}
	if err := c.w.Flush(); err != nil {
		return nil, err
	}
	v, err := c.read()
	if e, ok := v.(Error); ok && err == nil {
		return nil, e
	}
	return v, err
}

func (c *Client) line() (string, error) {
	s, err := c.r.ReadString('\n')
	if err != nil {
		return "", err
	}
	if !strings.HasSuffix(s, "\r\n") {
		return "", errors.New("resp: malformed line")
	}
	return s[:len(s)-2], nil
}

func (c *Client) read() (any, error) {
	s, err := c.line()
	if err != nil {
		return nil, err
	}
	if s == "" {
		return nil, errors.New("resp: empty reply")
	}
	switch s[0] {
	case '+':
		return s[1:], nil
	case '-':
		return Error(s[1:]), nil
	case ':':
		return strconv.ParseInt(s[1:], 10, 64)
	case '$':
		n, err := strconv.Atoi(s[1:])
		if err != nil || n < 0 {
			return nil, err // $-1: nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(c.r, buf); err != nil {
			return nil, err
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(s[1:])
		if err != nil || n < 0 {
			return nil, err // *-1: nil (a BRPOP that timed out)
		}
		out := make([]any, n)
		for i := range out {
			if out[i], err = c.read(); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("resp: unexpected reply %q", s)
}

// BRPop pops the oldest element of key, waiting up to timeout (whole seconds, at least 1).
// It returns ok=false when nothing came.
func (c *Client) BRPop(key string, timeout time.Duration) (value string, ok bool, err error) {
	secs := int(timeout / time.Second)
	if secs < 1 {
		secs = 1
	}
	v, err := c.Do("BRPOP", key, strconv.Itoa(secs))
	if err != nil || v == nil {
		return "", false, err
	}
	pair, _ := v.([]any)
	if len(pair) != 2 {
		return "", false, errors.New("resp: unexpected BRPOP reply")
	}
	s, _ := pair[1].(string)
	return s, true, nil
}
