module leakhound.tools/genoffsets

go 1.21
