"""Pieces several built-in models share; nothing here registers a model.

- ``training``: autocast, memory layout, eval mode, brain masks, percentiles, option checks, Dice + cross-entropy;
- ``gan``: least-squares GAN losses, the image pool and initialisation (PathoGAN, CycleGAN);
- ``networks``: layers in the PathoGAN paper's notation, and the ``resnet9`` generator and ``patchgan``
  discriminator (registered here, for any model to create by name);
- ``difference``: the label-free decision rule of models that segment by translating to healthy
  (CycleGAN, the diffusion models);
- ``diffusion``: the denoising U-Net and noise schedule of the diffusion models.
"""
