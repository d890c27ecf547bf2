module leakhound.test/targets

go 1.21
