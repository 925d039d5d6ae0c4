// Command jobs runs report jobs and shows their progress over long
// polling: the page starts a job with POST /jobs, then long-polls the
// job's topic (jobs/<id>) at /longpoll from the first message on, showing
// each step and its percentage as soon as it is published, and finally the
// link to the finished report.
//
//	go run ./examples/jobs                         # http://127.0.0.1:8093/
//	go run ./examples/jobs -addr :9000 -step 200ms
//
// Flags: -addr (listen address, default 127.0.0.1:8093), -step (how long
// each of a job's steps takes, default 700ms).
package main

import (
	"context"
	"flag"
	"log"
	"net/http"
	"os/signal"
	"syscall"
	"time"

	"github.com/pushpull/pushpull/bus"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8093", "listen address")
	step := flag.Duration("step", 700*time.Millisecond, "how long each step of a job takes")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	b := &bus.Memory{}
	defer b.Close()
	a := newApp(b, *step)
	defer a.Close()
	srv := &http.Server{Addr: *addr, Handler: a, ReadHeaderTimeout: 5 * time.Second}
	srv.RegisterOnShutdown(func() { _ = a.lp.Shutdown(context.Background()) })
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	log.Printf("report jobs on http://%s/", *addr)
	if err := srv.ListenAndServe(); err != http.ErrServerClosed {
		log.Fatal(err)
	}
}
