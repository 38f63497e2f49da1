"""Training: fit() a model with an optimizer (built from train_epoch and train_step), evaluate()
it, record a History, and callbacks for early stopping, keeping the best weights, checkpointing.

    history = fit(model, optimizer, train_loader, val_loader, epochs=5,
                  callbacks=[EarlyStopping(patience=2), ModelCheckpoint("runs/best.npz")])
    result = evaluate(model, test_loader)      # loss, accuracy, confusion matrix, predictions
"""
from .callbacks import BestWeights, Callback, EarlyStopping, FitState, ModelCheckpoint
from .history import EPOCH_FIELDS, History, monitor_mode
from .loop import SCHEDULER_INTERVALS, TrainingDiverged, evaluate, fit, train_epoch, train_step

__all__ = ["BestWeights", "Callback", "EPOCH_FIELDS", "EarlyStopping", "FitState", "History",
           "ModelCheckpoint", "SCHEDULER_INTERVALS", "TrainingDiverged", "evaluate", "fit",
           "monitor_mode", "train_epoch", "train_step"]
