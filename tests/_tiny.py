"""The tiny settings of the ensemble pipeline that the slower tests fit."""

# Few trees and epochs, and one booster thread: a four-member pipeline fits
# in seconds and gives the same numbers on a busy machine.
TINY = {
    "ensemble__xgboost__n_estimators": 15,
    "ensemble__lightgbm__n_estimators": 15,
    "ensemble__xgboost__n_jobs": 1,
    "ensemble__lightgbm__n_jobs": 1,
    "ensemble__lstm__net__max_epochs": 2,
    "ensemble__transformer__net__max_epochs": 2,
}
