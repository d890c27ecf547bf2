module leakhound.bench/leakcheck

go 1.26
