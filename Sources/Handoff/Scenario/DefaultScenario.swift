enum DefaultScenario { static let yaml = "" }
