# podman with the options this kind of machine needs (sourced by the deploy
# scripts and the container test): runc (crun refuses hybrid cgroups),
# cgroupfs, explicit ulimits (the VM caps rlimits), host networking.
podman_() { podman --runtime runc --cgroup-manager=cgroupfs "$@"; }
# `podman run` / `podman build` options that go with it.
KEN_PODMAN_RUN_OPTS=(--ulimit nofile=1024:1024 --ulimit nproc=1000:1000 --network host)
