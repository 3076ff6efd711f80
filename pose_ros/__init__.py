"""pose_ros: rclpy nodes around pose_core. The messages are the separate ROS package pose_msgs
(`from pose_msgs.msg import PersonArray`)."""
