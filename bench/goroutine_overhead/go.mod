module leakhound.bench/goroutine

go 1.21
