"""What every layer uses: atomic file writes (:mod:`.io`), terminals and progress bars, devices and threads,
torch.distributed, NIfTI orientation for display, seed streams, lazy exports and the optimizer helpers models
share (:mod:`.optim`)."""
