// Package natsbus runs the pushpull bus on NATS JetStream.
package natsbus
