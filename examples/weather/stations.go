package main

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"time"

	"github.com/pushpull/pushpull/bus"
)

// topic is the topic the readings are published to.
const topic = "weather"

// Reading is one station's weather.
type Reading struct {
	City     string  `json:"city"`
	TempC    float64 `json:"tempC"`
	WindKmh  float64 `json:"windKmh"`
	Humidity int     `json:"humidity"`
	Sky      string  `json:"sky"`
}

// Report is one message on the topic: every station's current reading.
type Report struct {
	Seq      int       `json:"seq"`
	Time     time.Time `json:"time"`
	Readings []Reading `json:"readings"`
}

// stations simulates the weather of a few cities as small random walks.
// It is used by one goroutine at a time.
type stations struct {
	rnd      *rand.Rand
	seq      int
	readings []Reading
}

var skies = []string{"sunny", "cloudy", "rain", "windy", "fog"}

func newStations(seed int64) *stations {
	return &stations{
		rnd: rand.New(rand.NewPCG(uint64(seed), 19)),
		readings: []Reading{
			{City: "Lisbon", TempC: 18, WindKmh: 14, Humidity: 65, Sky: "sunny"},
			{City: "Oslo", TempC: 2, WindKmh: 20, Humidity: 80, Sky: "cloudy"},
			{City: "Nairobi", TempC: 24, WindKmh: 10, Humidity: 55, Sky: "sunny"},
			{City: "Tokyo", TempC: 12, WindKmh: 8, Humidity: 70, Sky: "rain"},
		},
	}
}

// next moves every station one step and returns the new report.
func (s *stations) next(now time.Time) Report {
	s.seq++
	for i := range s.readings {
		r := &s.readings[i]
		r.TempC = math.Round((r.TempC+s.rnd.Float64()-0.5)*10) / 10
		r.WindKmh = math.Round(max(0, r.WindKmh+2*s.rnd.Float64()-1)*10) / 10
		r.Humidity = min(100, max(0, r.Humidity+s.rnd.IntN(5)-2))
		if s.rnd.IntN(5) == 0 {
			r.Sky = skies[s.rnd.IntN(len(skies))]
		}
	}
	return Report{Seq: s.seq, Time: now.UTC(), Readings: append([]Reading(nil), s.readings...)}
}

// publish publishes the next report on b.
func (s *stations) publish(ctx context.Context, b bus.Publisher) error {
	data, err := json.Marshal(s.next(time.Now()))
	if err != nil {
		return err
	}
	_, err = b.Publish(ctx, topic, bus.Message{Type: "weather.report", Data: data})
	return err
}
