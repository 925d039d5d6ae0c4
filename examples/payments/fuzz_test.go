package payments_test

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/pushpull/pushpull/examples/payments"
)

// FuzzNewPayment checks the form's parser: it never panics, and an amount
// it accepts is a positive number of cents, up to 1,000,000.00, that reads
// the same when written back.
func FuzzNewPayment(f *testing.F) {
	for _, s := range []string{"12.50", "12.5", "12", "0.01", "1000000", "1000000.01", "-1", "1e3", "+5", ".5", "5.", "5.123", " 7 ", "0x10", "١٢"} {
		f.Add("Ada", s, "EUR", "succeed")
	}
	f.Add("", "1", "EUR", "decline")
	f.Add("Ada", "1", "XXX", "crash")
	f.Fuzz(func(t *testing.T, customer, amount, currency, outcome string) {
		p, err := payments.NewPayment(customer, amount, currency, payments.Outcome(outcome))
		if err != nil {
			return
		}
		if p.Amount <= 0 || p.Amount > 100_000_000 {
			t.Fatalf("amount %q accepted as %d cents", amount, p.Amount)
		}
		back := fmt.Sprintf("%d.%02d", p.Amount/100, p.Amount%100)
		q, err := payments.NewPayment(customer, back, currency, payments.Outcome(outcome))
		if err != nil || q.Amount != p.Amount {
			t.Fatalf("amount %q: %d cents, written back as %s: %d, %v", amount, p.Amount, back, q.Amount, err)
		}
		if n := utf8.RuneCountInString(p.Customer); n == 0 || n > 60 || p.Customer != strings.TrimSpace(p.Customer) {
			t.Fatalf("customer %q accepted as %q", customer, p.Customer)
		}
	})
}
