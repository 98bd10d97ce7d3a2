"""The main job (`./tasks demo`): a real 2-platform build, checked by skopeo, umoci and chroot."""
