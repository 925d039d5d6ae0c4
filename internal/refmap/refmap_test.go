package refmap

import (
	"errors"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type val struct{ n int }

func TestAcquireRelease(t *testing.T) {
	var m Map[val]
	made := 0
	create := func() (*val, error) { made++; return &val{made}, nil }
	a, first, err := m.Acquire("k", create)
	if err != nil || !first || a.n != 1 {
		t.Fatalf("first Acquire = %v %v %v", a, first, err)
	}
	b, first, _ := m.Acquire("k", create)
	if b != a || first || made != 1 {
		t.Fatalf("second Acquire made another value: %v %v", b, first)
	}
	if m.Release("k", a) {
		t.Fatal("first of two releases reported last")
	}
	if !m.Release("k", a) {
		t.Fatal("last release not reported")
	}
	if m.Len() != 0 {
		t.Fatalf("Len = %d after the last release", m.Len())
	}
	c, first, _ := m.Acquire("k", create)
	if c == a || !first {
		t.Fatal("Acquire after the last release reused the torn-down value")
	}
}

func TestForget(t *testing.T) {
	var m Map[val]
	create := func() (*val, error) { return &val{}, nil }
	old, _, _ := m.Acquire("k", create)
	m.Forget("k", old)
	fresh, first, _ := m.Acquire("k", create)
	if fresh == old || !first {
		t.Fatal("Acquire after Forget returned the forgotten value")
	}
	if !m.Release("k", old) {
		t.Fatal("the forgotten value's only holder is not the last")
	}
	if m.Len() != 1 {
		t.Fatal("releasing the forgotten value removed the current one")
	}
	m.Forget("k", old) // not current: no effect
	n := 0
	m.Each(func(v *val) {
		if v != fresh {
			t.Error("Each visited a value that is not current")
		}
		n++
	})
	if n != 1 {
		t.Fatalf("Each visited %d values", n)
	}
}

func TestCreateError(t *testing.T) {
	var m Map[val]
	boom := errors.New("boom")
	if _, _, err := m.Acquire("k", func() (*val, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	if m.Len() != 0 {
		t.Fatal("a failed create left a value")
	}
}
