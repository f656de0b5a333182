// Command refunds is a runwayd refund consumer in Go: it takes refund events from
// <prefix>:refunds (BRPOP, oldest first) and applies each exactly once by refund_id.
//
//	go run ./cmd/refunds [-db FILE] [-count N] [-idle DURATION]
//
// The state file (default ./refunds.json) holds the applied refunds by refund_id and the
// users' balances; it is replaced atomically (temporary file, fsync, rename) after each
// refund, so the id and the credit are recorded together. One consumer per state file.
// Prints "refunded N credits to USER (REFUND_ID)" per applied refund; duplicates and
// malformed events go to stderr. Environment: REDIS_URL, RUNWAY_PREFIX.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"runwayd-examples/resp"
)

type refundEvent struct {
	V        int     `json:"v"`
	RefundID *string `json:"refund_id"`
	User     *string `json:"user"`
	Credits  *int64  `json:"credits"`
	Reason   string  `json:"reason"`
}

type applied struct {
	User      *string `json:"user"`
	Credits   int64   `json:"credits"`
	Reason    string  `json:"reason"`
	AppliedAt string  `json:"applied_at"`
}

type state struct {
	Applied  map[string]applied `json:"applied"`
	Balances map[string]int64   `json:"balances"`
}

func load(path string) (*state, error) {
	s := &state{Applied: map[string]applied{}, Balances: map[string]int64{}}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, err
	}
	return s, json.Unmarshal(b, s)
}

func (s *state) save(path string) error {
	b, _ := json.Marshal(s)
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err = f.Write(b); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func main() { os.Exit(run()) }

func run() int {
	db := flag.String("db", "refunds.json", "state file")
	count := flag.Int("count", 0, "stop after N events (0: never)")
	idle := flag.Duration("idle", 0, "stop after this long without an event (0: never)")
	flag.Parse()

	st, err := load(*db)
	if err != nil {
		fmt.Fprintln(os.Stderr, "refunds: state:", err)
		return 1
	}
	prefix := os.Getenv("RUNWAY_PREFIX")
	if prefix == "" {
		prefix = "runway"
	}
	url := os.Getenv("REDIS_URL")
	if url == "" {
		url = "redis://127.0.0.1:6379"
	}
	c, err := resp.Dial(url, 5*time.Second)
	if err != nil {
		fmt.Fprintln(os.Stderr, "refunds: redis:", err)
		return 4
	}
	defer c.Close()
	seen, quietSince := 0, time.Now()
	for *count == 0 || seen < *count {
		raw, ok, err := c.BRPop(prefix+":refunds", time.Second)
		if err != nil {
			fmt.Fprintln(os.Stderr, "refunds: redis:", err)
			return 4
		}
		if !ok {
			if *idle > 0 && time.Since(quietSince) >= *idle {
				break
			}
			continue
		}
		seen, quietSince = seen+1, time.Now()
		var ev refundEvent
		if json.Unmarshal([]byte(raw), &ev) != nil || ev.V != 1 || ev.RefundID == nil || ev.Credits == nil || *ev.Credits < 0 {
			fmt.Fprintf(os.Stderr, "refunds: skipping an event that is not a v1 refund: %s\n", raw)
			continue
		}
		if _, dup := st.Applied[*ev.RefundID]; dup {
			fmt.Fprintf(os.Stderr, "refunds: refund %s already applied; ignoring the duplicate\n", *ev.RefundID)
			continue
		}
		st.Applied[*ev.RefundID] = applied{User: ev.User, Credits: *ev.Credits, Reason: ev.Reason,
			AppliedAt: time.Now().UTC().Format(time.RFC3339Nano)}
		user := "<none>"
		if ev.User != nil {
			user = *ev.User
			st.Balances[user] += *ev.Credits
		}
		if err := st.save(*db); err != nil {
			fmt.Fprintln(os.Stderr, "refunds: state:", err)
			return 1
		}
		fmt.Printf("refunded %d credits to %s (%s)\n", *ev.Credits, user, *ev.RefundID)
	}
	return 0
}
