package main

import "github.com/webtune/webtune/models"

// The built-in model (webtune-stories-1m, embedded in package models) is the
// model of train and generate when --model is not given.
func init() { defaultModelPath = models.Path }
