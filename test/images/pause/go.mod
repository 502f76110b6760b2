module longvideo.dev/test/images/pause

go 1.24
