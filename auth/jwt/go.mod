module github.com/pushpull/pushpull/auth/jwt

go 1.26.0

require (
	github.com/golang-jwt/jwt/v5 v5.3.1
	github.com/pushpull/pushpull v0.0.0
	github.com/stretchr/testify v1.12.1
	go.uber.org/goleak v1.3.0
)

require (
	github.com/cenkalti/backoff/v4 v4.3.0 // indirect
	github.com/coder/websocket v1.8.15 // indirect
	go.yaml.in/yaml/v3 v3.0.5 // indirect
)

replace github.com/pushpull/pushpull => ../../
