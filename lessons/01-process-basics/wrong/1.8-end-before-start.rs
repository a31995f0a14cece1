        // wrong: prints the two lines in the wrong order (the end line first)
        println!("{} piao end..", self.name);
        println!("{} piaoing..", self.name);
