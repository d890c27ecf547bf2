module leakhound.bench/retentionwalk

go 1.26
