"""The traffic-window classifier trained on CICIoMT2024: features, training, inference."""
