package autotest_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/pushpull/pushpull/auto/autotest"
)

func ExampleProxy() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: hello\n\n")
	}))
	defer srv.Close()
	p := autotest.New(srv.URL)
	defer p.Close()
	p.SetFaults(autotest.BufferSSE) // this answer ends, so it arrives whole
	resp, err := http.Get(p.URL())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Printf("%d %q\n", resp.StatusCode, body)
	// Output: 200 "data: hello\n\n"
}
