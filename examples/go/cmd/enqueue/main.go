// Command enqueue is a runwayd producer in Go: it pushes one job (wire contract v1,
// docs/job-format.md) onto <prefix>:jobs with a reply list of its own, waits for its
// result there and prints it.
//
//	go run ./cmd/enqueue [-id ID] [-endpoint E] [-model M] [-prompt TEXT] [-image URI]
//	    [-ratio W:H] [-duration S] [-charged N] [-user U] [-client NAME] [-timeout 10m]
//
// Environment: REDIS_URL (default redis://127.0.0.1:6379), RUNWAY_PREFIX (default runway).
// The result event goes to stdout as one line of JSON, a summary to stderr.
// Exit codes: 0 succeeded, 1 failed or cancelled, 2 usage, 3 no result within -timeout,
// 4 Redis error.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"runwayd-examples/resp"
)

type job struct {
	V        int            `json:"v"`
	ID       string         `json:"id"`
	Endpoint string         `json:"endpoint"`
	Body     map[string]any `json:"body"`
	Charged  int64          `json:"charged"`
	User     *string        `json:"user,omitempty"`
	ReplyTo  string         `json:"reply_to"`
	Meta     map[string]any `json:"meta"`
}

type result struct {
	ID     string   `json:"id"`
	Status string   `json:"status"`
	Output []string `json:"output"`
	Error  *struct {
		Class   string `json:"class"`
		Message string `json:"message"`
	} `json:"error"`
	Refund *struct {
		Credits int64 `json:"credits"`
	} `json:"refund"`
}

func getenv(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func main() { os.Exit(run()) }

func run() int {
	host, _ := os.Hostname()
	id := flag.String("id", fmt.Sprintf("go_%d_%d", time.Now().UnixNano(), os.Getpid()), "job id")
	endpoint := flag.String("endpoint", "text_to_video", "Runway endpoint")
	model := flag.String("model", "gen4.5", "body.model")
	prompt := flag.String("prompt", "a red kite over the sea", "body.promptText")
	image := flag.String("image", "", "body.promptImage")
	ratio := flag.String("ratio", "1280:720", "body.ratio")
	duration := flag.Float64("duration", 5, "body.duration (seconds)")
	charged := flag.Int64("charged", 0, "credits taken from the user")
	user := flag.String("user", "", "user (echoed)")
	client := flag.String("client", fmt.Sprintf("go-%s-%d", host, os.Getpid()), "reply list suffix")
	timeout := flag.Duration("timeout", 10*time.Minute, "how long to wait for the result")
	flag.Parse() // exits 2 on a usage error

	prefix := getenv("RUNWAY_PREFIX", "runway")
	replyTo := prefix + ":results:" + *client
	j := job{V: 1, ID: *id, Endpoint: *endpoint, Charged: *charged, ReplyTo: replyTo,
		Body: map[string]any{"model": *model, "promptText": *prompt, "ratio": *ratio, "duration": *duration},
		Meta: map[string]any{"producer": "examples/go"}}
	if *image != "" {
		j.Body["promptImage"] = *image
	}
	if *user != "" {
		j.User = user
	}
	payload, _ := json.Marshal(j)

	c, err := resp.Dial(getenv("REDIS_URL", "redis://127.0.0.1:6379"), 5*time.Second)
	if err != nil {
		fmt.Fprintln(os.Stderr, "enqueue: redis:", err)
		return 4
	}
	defer c.Close()
	if _, err := c.Do("LPUSH", prefix+":jobs", string(payload)); err != nil {
		fmt.Fprintln(os.Stderr, "enqueue: redis:", err)
		return 4
	}
	fmt.Fprintf(os.Stderr, "enqueued %s; waiting for its result on %s\n", *id, replyTo)
	deadline := time.Now().Add(*timeout)
	for time.Now().Before(deadline) {
		raw, ok, err := c.BRPop(replyTo, 5*time.Second)
		if err != nil {
			fmt.Fprintln(os.Stderr, "enqueue: redis:", err)
			return 4
		}
		if !ok {
			continue
		}
		var r result
		if err := json.Unmarshal([]byte(raw), &r); err != nil || r.ID != *id {
			fmt.Fprintf(os.Stderr, "ignoring a result for another job on %s\n", replyTo)
			continue
		}
		fmt.Println(raw)
		if r.Status == "succeeded" {
			fmt.Fprintf(os.Stderr, "%s succeeded: %s\n", r.ID, strings.Join(r.Output, " "))
			return 0
		}
		note := ""
		if r.Refund != nil {
			note = fmt.Sprintf(" (refund of %d credits)", r.Refund.Credits)
		}
		if r.Error != nil {
			fmt.Fprintf(os.Stderr, "%s %s: %s %s%s\n", r.ID, r.Status, r.Error.Class, r.Error.Message, note)
		}
		return 1
	}
	fmt.Fprintf(os.Stderr, "enqueue: no result for %s within %s\n", *id, *timeout)
	return 3
}
