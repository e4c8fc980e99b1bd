"""Training: a run set up from its config, the epoch loop, and what the loop uses.

- ``setup``: config -> validated, ready-to-train run (or a run resumed from its checkpoint).
- ``loop``: the ``Trainer``: epochs, validation, best/last checkpoints, early stopping, interrupts.
- ``state``: ``LoopState`` (position and running sums, saved for exact resume), ``RunResult``.
- ``optim``: optimizers with PyTorch's update rules; ``optim_flat``: one step on flat vectors.
- ``schedules``: learning-rate schedules as pure functions of the step.
- ``report``: evaluation (loss and the task's metrics, per class) and the curves/confusion plots.
- ``diagnostics``: the "stuck at chance" warning and its measured causes.
- ``progress``: a rich bar on a terminal, plain lines elsewhere.
- ``stopsignals``: Ctrl-C / SIGTERM: finish the step, save ``last``, exit 130/143.
- ``inmemory``: the ``Trainer`` without a run directory (the estimator, the learning-rate finder).
- ``lrfind``: the learning-rate finder: the loop on a throwaway copy, its rate growing.
- ``lrauto``: ``optimizer.lr: auto``: the finder's rate settled when a run starts.
- ``epochs_cv``: ``train.cv_folds``: the epochs chosen by k-fold cross-validation (0: the mean).
- ``budget``: ``train.max_minutes``: the epochs and folds that fit a measured time budget.
"""
