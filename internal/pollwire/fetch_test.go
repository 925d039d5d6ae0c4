package pollwire

import (
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestIntervals(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]time.Duration{
		"": 0, "5": 5 * time.Second, " 0.25 ": 250 * time.Millisecond, "0": 0, "-3": 0, "NaN": 0, "x": 0, "1e9": MaxAdvice,
	} {
		assert.Equal(t, want, ParseInterval(in), in)
	}
	for d, want := range map[time.Duration]string{2 * time.Second: "2", 1500 * time.Millisecond: "1.5", time.Millisecond: "0.001"} {
		assert.Equal(t, want, FormatInterval(d))
		assert.Equal(t, d, ParseInterval(want))
	}
	for d, want := range map[time.Duration]string{0: "1", time.Millisecond: "1", time.Second: "1", 1001 * time.Millisecond: "2"} {
		assert.Equal(t, want, Seconds(d))
	}
}

func TestParseTimeout(t *testing.T) {
	t.Parallel()
	def := 25 * time.Second
	for q, want := range map[string]time.Duration{
		"": def, "timeout=0": 0, "timeout=1.5": 1500 * time.Millisecond, "timeout=25": def, "timeout=99999999999": def,
	} {
		got, err := ParseTimeout(httptest.NewRequest("GET", "/?"+q, nil).URL.Query(), def)
		require.NoError(t, err, q)
		assert.Equal(t, want, got, q)
	}
	for _, q := range []string{"timeout=-1", "timeout=abc", "timeout=NaN", "timeout=%20"} {
		_, err := ParseTimeout(httptest.NewRequest("GET", "/?"+q, nil).URL.Query(), def)
		assert.ErrorIs(t, err, ErrInvalidParameter, q)
	}
}

func TestEndpointURL(t *testing.T) {
	t.Parallel()
	q := url.Values{"after": {"e-1"}}
	u, err := (&Endpoint{Base: "http://h/poll/{topic}?x=1"}).URL("a/b c", q)
	require.NoError(t, err)
	assert.Equal(t, "http://h/poll/a%2Fb%20c?after=e-1&x=1", u)
	u, err = (&Endpoint{Base: "http://h/poll"}).URL("a/b", q)
	require.NoError(t, err)
	assert.Equal(t, "http://h/poll?after=e-1&topic=a%2Fb", u)
	_, err = (&Endpoint{Base: "http://h/%zz", Prefix: "poll"}).URL("t", q)
	assert.Error(t, err)
}
