module leakhound.bench/alloc

go 1.21
