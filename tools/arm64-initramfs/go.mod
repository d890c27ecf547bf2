module leakhound/arm64-initramfs

go 1.21
